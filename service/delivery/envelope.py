"""The AMQP body (SPEC section 5) and the sealed request inside it."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any
from uuid import UUID

from service.domain.credential import TempStrongPassword
from service.domain.validation import CLIENT_EXT_ID, EXT_ID
from service.sealing import Opener, SealingError

from .failures import PermanentFailure


class SendingMethod(StrEnum):
    """The sending methods that have a channel (`None` never produces an envelope)."""

    EMAIL = "Email"
    SMS = "SMS"
    PDF_STORE = "PDFstore"


@dataclass(frozen=True)
class Envelope:
    key_id: str
    sealed: str
    sending_method: SendingMethod

    def as_sealed(self) -> dict[str, str]:
        return {"keyId": self.key_id, "sealed": self.sealed}


@dataclass(frozen=True)
class DeliveryRequest:
    """The opened envelope. The secret and the addresses stay out of `repr`."""

    secret: str = field(repr=False)
    client_ext_id: str
    user_ext_id: str
    credential_ext_id: str
    version: int
    sending_method: SendingMethod
    login_id: str | None
    email: str | None = field(repr=False)
    mobile: str | None = field(repr=False)
    language: str | None

    @property
    def credential_id(self) -> UUID:
        return TempStrongPassword.create_id(self.client_ext_id, self.credential_ext_id)

    @property
    def message_id(self) -> str:
        """What the publisher sets as AMQP `message_id`: the dedup key."""
        return f"{self.credential_ext_id}:{self.version}"

    @property
    def addressee(self) -> str:
        return self.login_id or self.user_ext_id


def parse_envelope(body: bytes) -> Envelope:
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        raise PermanentFailure("envelope is not JSON") from None
    if not isinstance(document, dict):
        raise PermanentFailure("envelope is not a JSON object")
    key_id, sealed, method = (document.get(k) for k in ("keyId", "sealed", "sendingMethod"))
    if not isinstance(key_id, str) or not isinstance(sealed, str):
        raise PermanentFailure("envelope lacks keyId or sealed")
    return Envelope(key_id, sealed, _sending_method(method))


def open_envelope(opener: Opener, envelope: Envelope) -> DeliveryRequest:
    try:
        payload = opener.open(envelope.as_sealed())
    except (SealingError, ValueError, RecursionError):
        # Anyone with the public key can seal, so the plaintext may be any bytes, even deep JSON.
        raise PermanentFailure("envelope cannot be opened") from None
    if not isinstance(payload, dict):
        raise PermanentFailure("sealed payload is not a JSON object")
    request = _request(payload)
    if request.sending_method is not envelope.sending_method:
        raise PermanentFailure("sendingMethod outside and inside the envelope differ")
    return request


def _request(payload: dict[str, Any]) -> DeliveryRequest:
    secret = payload.get("secret")
    version = payload.get("version")
    if not isinstance(secret, str) or not secret:
        raise PermanentFailure("sealed payload lacks the secret")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise PermanentFailure("sealed payload has no valid version")
    client = _text(payload, "clientExtId")
    if not CLIENT_EXT_ID.fullmatch(client):
        raise PermanentFailure("sealed payload has an invalid clientExtId")
    user = _text(payload, "userExtId")
    credential = _text(payload, "credentialExtId")
    if not EXT_ID.fullmatch(user) or not EXT_ID.fullmatch(credential):
        raise PermanentFailure("sealed payload has an invalid userExtId or credentialExtId")
    return DeliveryRequest(
        secret=secret,
        client_ext_id=client,
        user_ext_id=user,
        credential_ext_id=credential,
        version=version,
        sending_method=_sending_method(payload.get("sendingMethod")),
        login_id=_optional_text(payload, "loginId"),
        email=_optional_text(payload, "email"),
        mobile=_optional_text(payload, "mobile"),
        language=_optional_text(payload, "language"),
    )


def _sending_method(value: object) -> SendingMethod:
    if isinstance(value, str) and value in SendingMethod.__members__.values():
        return SendingMethod(value)
    raise PermanentFailure("unknown sendingMethod")


def _text(payload: dict[str, Any], key: str) -> str:
    value = payload.get(key)
    if not isinstance(value, str):
        raise PermanentFailure(f"sealed payload lacks {key}")
    return value


def _optional_text(payload: dict[str, Any], key: str) -> str | None:
    value = payload.get(key)
    if value is not None and not isinstance(value, str):
        raise PermanentFailure(f"sealed payload has a non-text {key}")
    return value or None
