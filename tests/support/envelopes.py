"""Envelopes built by the contract's own code, as the API seals and the publisher sends them."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from service.contracts.envelope import (
    ADDRESS_FIELDS,
    DeliveryEnvelope,
    SealedDelivery,
    seal_delivery,
)
from service.domain.policy import SendingMethod
from service.domain.user import User
from service.eventstore.keys import KeyTable
from service.eventstore.port import KeyChanges
from service.privacy.data_keys import DataKey
from service.privacy.keyring import Keyring
from service.security.sealing import Sealer

CLIENT = "acme"


@dataclass(frozen=True)
class PersonalKeys:
    """What the API keeps for each person, for tests of the worker: a keyring, and a table the
    wrapped data keys go into (the one the worker under test reads)."""

    keyring: Keyring
    table: KeyTable

    def new_person(self, client: str, user: str) -> DataKey:
        key = DataKey.new()
        wrapped = self.keyring.wrap(key.key_id, User.create_id(client, user), key.secret)
        self.table.before_events(KeyChanges(new=[wrapped]))
        return key

    def erase(self, key_id: uuid.UUID) -> None:
        self.table.after_events(KeyChanges(destroy=[key_id]))


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
    data_key_id: uuid.UUID | None = None  # the person's data key, if it is sealed to one

    @property
    def credential_id(self) -> str:
        return str(self.delivery_ids()[0])

    def delivery_ids(self) -> tuple[uuid.UUID, uuid.UUID]:
        """The credential id and the issuing event's id."""
        envelope = DeliveryEnvelope.from_body(self.body)
        assert envelope.credential_id is not None and envelope.event_id is not None
        return envelope.credential_id, envelope.event_id


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
    keys: PersonalKeys | None = None,
) -> Issued:
    """With `keys`, as the API seals now: the channel's address (and loginId) sealed to a new
    data key of the person; without, in the clear inside the box, as before 2026-12-06."""
    user = user or unique("user")
    credential = credential or unique("cred")
    secret = secret or secrets.token_urlsafe(12)
    sending_method = SendingMethod(method)
    values: dict[str, Any] = {"login_id": login_id, "email": email, "mobile": mobile}
    key = keys.new_person(client, user) if keys is not None else None
    if key is not None:
        subject = User.create_id(client, user)
        address = ADDRESS_FIELDS.get(sending_method)
        plain = values.get(address) if address else None
        values = {
            "sealed_address": key.seal(plain, subject, address) if address and plain else None,
            "sealed_login_id": key.seal(login_id, subject, "login_id") if login_id else None,
        }
    delivery = SealedDelivery(
        secret=secret,
        client_ext_id=client,
        user_ext_id=user,
        credential_ext_id=credential,
        version=version,
        sending_method=sending_method,
        language=language,
        **values,
    )
    envelope = DeliveryEnvelope.of_event(
        seal_delivery(sealer, delivery), delivery.credential_id, version
    )
    return Issued(
        envelope.to_body(),
        envelope.message_id,
        secret,
        client,
        user,
        credential,
        version,
        login_id,
        key.key_id if key is not None else None,
    )
