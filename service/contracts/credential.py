"""The seed's credential schema: the fields the REST body and the CloudEvents' `data` are made
of, read off the aggregate in one place (each contract then picks and formats its own)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..domain.credential import CREDENTIAL_TYPE, TempStrongPassword

# never read off the aggregate: the caller says what it holds (a hash or a fragment)
SECRET_FIELD = "tempStrongPassword"  # noqa: S105 - a field name


def credential_fields(credential: TempStrongPassword, at: datetime) -> dict[str, Any]:
    """The credential as it reads at `at` (a tmp-lock may have ended), in the schema's order,
    camelCase; a field without a value is None."""
    state, reason = credential.effective_state(at)
    return {
        "created": credential.created_on,
        "lastModified": credential.modified_on,
        "version": credential.version,
        "extId": credential.ext_id,
        "userExtId": credential.user_ext_id,
        "policyExtId": credential.policy_ext_id,
        "stateName": state.value,
        "stateChangeReason": reason.value if reason else None,
        "stateChangeDetail": credential.state_change_detail,
        "lastSuccessfulLoginDate": credential.last_successful_login,
        "successfulLoginCount": credential.successful_login_count,
        "lastFailedLoginDate": credential.last_failed_login,
        "failedLoginCount": credential.failed_login_count,
        "modificationComment": credential.modification_comment,
        "type": CREDENTIAL_TYPE,
        SECRET_FIELD: None,
        "resetCount": credential.reset_count,
        "createdBy": credential.created_by,
        "modifiedBy": credential.modified_by,
    }
