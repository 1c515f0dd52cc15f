"""Who may call each operation: the permissions a token needs (all of them, and the client in its
scope), or, where `self_admin`, the user themself. The handlers enforce these very objects and the
OpenAPI document lists them."""

from __future__ import annotations

from dataclasses import dataclass

from ..security.permissions import Permission


@dataclass(frozen=True)
class Access:
    """Who may call an operation: a token with every permission listed (and the client in its
    scope), or, where `self_admin`, the user themself. The OpenAPI document lists the same."""

    permissions: tuple[Permission, ...]
    self_admin: bool = False


CAN_CREATE_USER = Access((Permission.USER_CREATE,))
CAN_GET_USER = Access((Permission.USER_VIEW,), self_admin=True)
CAN_DELETE_USER = Access((Permission.USER_DELETE,))
CAN_CREATE_CREDENTIAL = Access((Permission.CREDENTIAL_CREATE,))
CAN_CREATE_CREDENTIAL_WITH_STATE = Access(
    (Permission.CREDENTIAL_CREATE, Permission.CREDENTIAL_CHANGE_STATE)
)
CAN_GET_CREDENTIAL = Access((Permission.CREDENTIAL_VIEW,), self_admin=True)
CAN_MODIFY_CREDENTIAL = Access((Permission.CREDENTIAL_MODIFY, Permission.CREDENTIAL_VIEW))
CAN_RESET_CREDENTIAL = Access(
    (Permission.CREDENTIAL_VIEW, Permission.CREDENTIAL_MODIFY), self_admin=True
)
CAN_DELETE_CREDENTIAL = Access((Permission.CREDENTIAL_DELETE,), self_admin=True)
CAN_VERIFY_CREDENTIAL = Access((Permission.CREDENTIAL_VERIFY,))
CAN_LIST_EVENTS = Access((Permission.CREDENTIAL_VIEW,))
CAN_LIST_CREDENTIALS = Access((Permission.CREDENTIAL_VIEW,))
