"""Envelopes built by the contract's own code, as the API seals and the publisher sends them."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass

from service.contracts.envelope import DeliveryEnvelope, SealedDelivery, seal_delivery
from service.domain.policy import SendingMethod
from service.security.sealing import Sealer

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
) -> Issued:
    user = user or unique("user")
    credential = credential or unique("cred")
    secret = secret or secrets.token_urlsafe(12)
    delivery = SealedDelivery(
        secret=secret,
        client_ext_id=client,
        user_ext_id=user,
        credential_ext_id=credential,
        version=version,
        sending_method=SendingMethod(method),
        login_id=login_id,
        email=email,
        mobile=mobile,
        language=language,
    )
    envelope = DeliveryEnvelope.of_event(
        seal_delivery(sealer, delivery), delivery.credential_id, version
    )
    return Issued(
        envelope.to_body(), envelope.message_id, secret, client, user, credential, version, login_id
    )
