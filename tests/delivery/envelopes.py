"""Builds envelopes exactly as the publisher sends them (SPEC section 5)."""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass

from service.domain.credential import TempStrongPassword
from service.sealing import Sealer

CLIENT = "acme"


@dataclass(frozen=True)
class Issued:
    body: bytes
    message_id: str
    secret: str
    client_ext_id: str
    user_ext_id: str
    credential_ext_id: str
    version: int
    login_id: str | None

    @property
    def credential_id(self) -> str:
        return str(TempStrongPassword.create_id(self.client_ext_id, self.credential_ext_id))


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def unique_mobile(status: int = 200) -> str:
    """The SMS sink answers the status named by the last three digits."""
    return f"+4179{secrets.randbelow(10**7):07d}{status}"


def issue(
    sealer: Sealer,
    method: str,
    *,
    client: str = CLIENT,
    user: str | None = None,
    credential: str | None = None,
    version: int = 1,
    email: str | None = None,
    mobile: str | None = None,
    login_id: str | None = None,
    language: str | None = None,
    secret: str | None = None,
) -> Issued:
    user = user or unique("user")
    credential = credential or unique("cred")
    secret = secret or secrets.token_urlsafe(12)
    payload = {
        "secret": secret,
        "clientExtId": client,
        "userExtId": user,
        "credentialExtId": credential,
        "version": version,
        "sendingMethod": method,
        "loginId": login_id,
        "email": email,
        "mobile": mobile,
        "language": language,
    }
    body = json.dumps({**sealer.seal(payload), "sendingMethod": method}).encode()
    return Issued(
        body, f"{credential}:{version}", secret, client, user, credential, version, login_id
    )
