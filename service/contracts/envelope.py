"""The delivery envelope, sealed and opened by the same code.

Two layers:
- `SealedDelivery`, what the libsodium sealed box holds: the secret, which credential version it
  belongs to, and the recipient's address for its channel only, sealed once more to the person's
  own data key (so that erasing the person leaves nothing in it that yields them). Only the API
  (sealing, with the public key) and the delivery worker (opening, with the private key and the
  person's data key) ever see inside.
- `DeliveryEnvelope`, the JSON body of the AMQP message: the key id, the ciphertext, the sending
  method and, in the clear, the ids the worker needs before it opens anything (the event id it
  deduplicates by, the credential and version it checks supersession with).

The event store keeps what the API sealed (`StoredDelivery`: key id, ciphertext, method); the
publisher adds the ids from the event it publishes.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any
from uuid import UUID

from ..domain.credential import TempStrongPassword
from ..domain.ids import event_id
from ..domain.personal import Encrypted
from ..domain.policy import SendingMethod
from ..domain.user import User
from ..domain.validation import CLIENT_EXT_ID, EXT_ID
from ..security.sealing import Opener, Sealer, SealingError

ENVELOPE_CONTENT_TYPE = "application/json"
# The sending methods that have a channel: `None` never produces an envelope.
DELIVERABLE_METHODS = frozenset(m for m in SendingMethod if m is not SendingMethod.NONE)


class MalformedEnvelope(ValueError):
    """The envelope or what it seals is not what this contract describes; never quotes it."""


# Which of the person's fields a channel needs: its envelope carries that one and no other.
ADDRESS_FIELDS = {SendingMethod.EMAIL: "email", SendingMethod.SMS: "mobile"}


@dataclass(frozen=True)
class SealedDelivery:
    """What the sealed box holds. The secret and the person's values stay out of `repr`.

    The person's values are sealed a second time, to their own data key: `sealed_address` (the
    channel's address, the very ciphertext the user aggregate holds, so it opens only with the
    person's key, bound to the user and the field) and `sealed_login_id` (the greeting). Once the
    person is erased, the delivery key still opens the box but nothing in it yields them.
    `email`, `mobile` and `login_id` are the plaintext: filled in memory by the worker once it
    revealed them (or carried by envelopes sealed before 2026-12-06).
    """

    secret: str = field(repr=False)
    client_ext_id: str
    user_ext_id: str
    credential_ext_id: str
    version: int
    sending_method: SendingMethod
    language: str | None
    sealed_address: Encrypted | None = field(default=None, repr=False)
    sealed_login_id: Encrypted | None = field(default=None, repr=False)
    login_id: str | None = field(default=None, repr=False)
    email: str | None = field(default=None, repr=False)
    mobile: str | None = field(default=None, repr=False)

    @property
    def credential_id(self) -> UUID:
        return TempStrongPassword.create_id(self.client_ext_id, self.credential_ext_id)

    @property
    def subject_id(self) -> UUID:
        """The user aggregate the person's values are bound to."""
        return User.create_id(self.client_ext_id, self.user_ext_id)

    @property
    def data_key_id(self) -> UUID | None:
        """The person's data key, if the box holds values sealed to it."""
        sealed = self.sealed_address or self.sealed_login_id
        return sealed.key_id if sealed is not None else None

    @property
    def event_id(self) -> UUID:
        """The id of the event that issued this secret: the envelope's `message_id`."""
        return event_id(self.credential_id, self.version)

    @property
    def legacy_message_id(self) -> str:
        """What publishers before 2026-11-29 set as `message_id` (`<extId>:<version>`)."""
        return f"{self.credential_ext_id}:{self.version}"

    @property
    def addressee(self) -> str:
        return self.login_id or self.user_ext_id

    def revealed(self, open_value: Callable[[Encrypted, UUID, str], str]) -> SealedDelivery:
        """The same delivery with the person's values in the clear, opened by `open_value`
        (value, aggregate, field) with the person's data key."""
        address = ADDRESS_FIELDS.get(self.sending_method)
        values: dict[str, Any] = {}
        if address is not None and self.sealed_address is not None:
            values[address] = open_value(self.sealed_address, self.subject_id, address)
        if self.sealed_login_id is not None:
            values["login_id"] = open_value(self.sealed_login_id, self.subject_id, "login_id")
        return replace(self, sealed_address=None, sealed_login_id=None, **values)

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "secret": self.secret,
            "clientExtId": self.client_ext_id,
            "userExtId": self.user_ext_id,
            "credentialExtId": self.credential_ext_id,
            "version": self.version,
            "sendingMethod": self.sending_method.value,
            "language": self.language,
        }
        key_id = self.data_key_id
        if key_id is not None:
            document["personal"] = {
                "keyId": str(key_id),
                "address": _sealed_text(self.sealed_address),
                "loginId": _sealed_text(self.sealed_login_id),
            }
        # plaintext only where the person has no data key (stored before 2026-12-06, before
        # `tempstrong migrate`), and only the channel's own address
        address = ADDRESS_FIELDS.get(self.sending_method)
        legacy = {
            "loginId": self.login_id,
            **({address: getattr(self, address)} if address else {}),
        }
        document.update({k: v for k, v in legacy.items() if v is not None})
        return document

    @classmethod
    def from_json(cls, payload: object) -> SealedDelivery:
        if not isinstance(payload, dict):
            raise MalformedEnvelope("sealed payload is not a JSON object")
        secret = payload.get("secret")
        version = payload.get("version")
        if not isinstance(secret, str) or not secret:
            raise MalformedEnvelope("sealed payload lacks the secret")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise MalformedEnvelope("sealed payload has no valid version")
        client = _text(payload, "clientExtId")
        if not CLIENT_EXT_ID.fullmatch(client):
            raise MalformedEnvelope("sealed payload has an invalid clientExtId")
        user = _text(payload, "userExtId")
        credential = _text(payload, "credentialExtId")
        if not EXT_ID.fullmatch(user) or not EXT_ID.fullmatch(credential):
            raise MalformedEnvelope("sealed payload has an invalid userExtId or credentialExtId")
        sealed_address, sealed_login_id = _personal(payload.get("personal"))
        return cls(
            secret=secret,
            client_ext_id=client,
            user_ext_id=user,
            credential_ext_id=credential,
            version=version,
            sending_method=deliverable_method(payload.get("sendingMethod")),
            language=_optional_text(payload, "language"),
            sealed_address=sealed_address,
            sealed_login_id=sealed_login_id,
            login_id=_optional_text(payload, "loginId"),
            email=_optional_text(payload, "email"),
            mobile=_optional_text(payload, "mobile"),
        )


@dataclass(frozen=True)
class StoredDelivery:
    """What a Created or Reset event stores: ciphertext only (attribute `delivery`)."""

    key_id: str
    sealed: str
    sending_method: SendingMethod

    def to_event_attribute(self) -> dict[str, str]:
        return {
            "keyId": self.key_id,
            "sealed": self.sealed,
            "sendingMethod": self.sending_method.value,
        }

    @classmethod
    def from_event_attribute(cls, value: object) -> StoredDelivery:
        if not isinstance(value, dict):
            raise MalformedEnvelope("stored delivery is not an object")
        key_id, sealed = value.get("keyId"), value.get("sealed")
        if not isinstance(key_id, str) or not isinstance(sealed, str):
            raise MalformedEnvelope("stored delivery lacks keyId or sealed")
        return cls(key_id, sealed, deliverable_method(value.get("sendingMethod")))


@dataclass(frozen=True)
class DeliveryEnvelope:
    """The AMQP message body on `tempstrong.delivery`."""

    key_id: str
    sealed: str
    sending_method: SendingMethod
    # Absent only in envelopes published before 2026-11-29; the worker then reads them from
    # the sealed payload after opening it.
    event_id: UUID | None = None
    credential_id: UUID | None = None
    version: int | None = None

    def ids(self) -> tuple[UUID | None, UUID | None, int | None]:
        return self.event_id, self.credential_id, self.version

    @property
    def message_id(self) -> str:
        """The AMQP `message_id`: the id of the event that issued the secret."""
        assert self.event_id is not None
        return str(self.event_id)

    @classmethod
    def of_event(
        cls, stored: StoredDelivery, credential_id: UUID, version: int
    ) -> DeliveryEnvelope:
        return cls(
            key_id=stored.key_id,
            sealed=stored.sealed,
            sending_method=stored.sending_method,
            event_id=event_id(credential_id, version),
            credential_id=credential_id,
            version=version,
        )

    def to_json(self) -> dict[str, Any]:
        document: dict[str, Any] = {
            "keyId": self.key_id,
            "sealed": self.sealed,
            "sendingMethod": self.sending_method.value,
        }
        if self.event_id is not None:
            document["eventId"] = str(self.event_id)
        if self.credential_id is not None:
            document["credentialId"] = str(self.credential_id)
        if self.version is not None:
            document["version"] = self.version
        return document

    def to_body(self) -> bytes:
        return json.dumps(self.to_json(), separators=(",", ":")).encode()

    @classmethod
    def from_body(cls, body: bytes) -> DeliveryEnvelope:
        try:
            document = json.loads(body)
        except (ValueError, RecursionError):
            raise MalformedEnvelope("envelope is not JSON") from None
        if not isinstance(document, dict):
            raise MalformedEnvelope("envelope is not a JSON object")
        stored = StoredDelivery.from_event_attribute(document)
        ids = [document.get(k) for k in ("eventId", "credentialId", "version")]
        if all(value is None for value in ids):
            return cls(stored.key_id, stored.sealed, stored.sending_method)
        raw_event, raw_credential, version = ids
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise MalformedEnvelope("envelope has no valid version")
        envelope = cls(
            stored.key_id,
            stored.sealed,
            stored.sending_method,
            _uuid(raw_event, "eventId"),
            _uuid(raw_credential, "credentialId"),
            version,
        )
        if envelope.event_id != event_id(envelope.credential_id, version):  # type: ignore[arg-type]
            raise MalformedEnvelope("envelope eventId does not name its credential version")
        return envelope


def seal_delivery(sealer: Sealer, delivery: SealedDelivery) -> StoredDelivery:
    sealed = sealer.seal(delivery.to_json())
    return StoredDelivery(sealed["keyId"], sealed["sealed"], delivery.sending_method)


def open_delivery(opener: Opener, envelope: DeliveryEnvelope) -> SealedDelivery:
    """Opens and cross-checks: the sealed ids must be the ones the envelope shows outside."""
    try:
        payload = opener.open({"keyId": envelope.key_id, "sealed": envelope.sealed})
    except (SealingError, ValueError, RecursionError):
        # Anyone with the public key can seal, so the plaintext may be any bytes, even deep JSON.
        raise MalformedEnvelope("envelope cannot be opened") from None
    delivery = SealedDelivery.from_json(payload)
    if delivery.sending_method is not envelope.sending_method:
        raise MalformedEnvelope("sendingMethod outside and inside the envelope differ")
    if envelope.event_id is not None and (
        delivery.event_id != envelope.event_id or delivery.version != envelope.version
    ):
        raise MalformedEnvelope("the envelope's ids do not match what it seals")
    return delivery


def deliverable_method(value: object) -> SendingMethod:
    if isinstance(value, str) and value in {m.value for m in DELIVERABLE_METHODS}:
        return SendingMethod(value)
    raise MalformedEnvelope("unknown sendingMethod")


def _uuid(value: object, key: str) -> UUID:
    try:
        return UUID(str(value)) if isinstance(value, str) else _invalid(key)
    except ValueError:
        return _invalid(key)


def _invalid(key: str) -> UUID:
    raise MalformedEnvelope(f"envelope has an invalid {key}")


def _text(payload: dict[str, Any], key: str) -> str:
    value = payload.get(key)
    if not isinstance(value, str):
        raise MalformedEnvelope(f"sealed payload lacks {key}")
    return value


def _sealed_text(value: Encrypted | None) -> str | None:
    return base64.b64encode(value.sealed).decode("ascii") if value is not None else None


def _personal(value: object) -> tuple[Encrypted | None, Encrypted | None]:
    """The person's sealed values: (address, loginId), both under the one `keyId`."""
    if value is None:
        return None, None
    if not isinstance(value, dict):
        raise MalformedEnvelope("sealed payload has an invalid personal part")
    try:
        key_id = UUID(str(value.get("keyId")))
        sealed = [value.get(name) for name in ("address", "loginId")]
        address, login_id = (
            Encrypted(key_id, base64.b64decode(item, validate=True)) if item else None
            for item in sealed
        )
    except (ValueError, TypeError, binascii.Error):
        raise MalformedEnvelope("sealed payload has an invalid personal part") from None
    return address, login_id


def _optional_text(payload: dict[str, Any], key: str) -> str | None:
    value = payload.get(key)
    if value is not None and not isinstance(value, str):
        raise MalformedEnvelope(f"sealed payload has a non-text {key}")
    return value or None
