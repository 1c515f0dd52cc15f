"""Permission names (nevisIDM) and the SelfAdmin role: one source of truth."""

from __future__ import annotations

from enum import StrEnum


class Permission(StrEnum):
    USER_CREATE = "AccessControl.UserCreate"
    USER_VIEW = "AccessControl.UserView"
    USER_DELETE = "AccessControl.UserDelete"
    CREDENTIAL_CREATE = "AccessControl.CredentialCreate"
    CREDENTIAL_CHANGE_STATE = "AccessControl.CredentialChangeState"
    CREDENTIAL_VIEW = "AccessControl.CredentialView"
    CREDENTIAL_MODIFY = "AccessControl.CredentialModify"
    CREDENTIAL_DELETE = "AccessControl.CredentialDelete"
    CREDENTIAL_VERIFY = "AccessControl.CredentialVerify"


SELF_ADMIN_ROLE = "SelfAdmin"
ALL_CLIENTS = "*"
