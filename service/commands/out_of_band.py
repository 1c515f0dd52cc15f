"""Sealing what the out-of-band channel carries, to the delivery worker's public key."""

from __future__ import annotations

from typing import Any

from ..contracts.envelope import ADDRESS_FIELDS, SealedDelivery, seal_delivery
from ..domain.errors import DeliveryNotConfigured
from ..domain.out_of_band import PasswordSplit, check_delivery_address
from ..domain.personal import Encrypted, PersonalValue
from ..domain.user import User
from ..security.sealing import Sealer


class OutOfBand:
    def __init__(self, sealer: Sealer | None) -> None:
        self._sealer = sealer

    def seal(
        self, split: PasswordSplit, user: User, credential_ext_id: str, version: int
    ) -> dict[str, str] | None:
        """What the Created or Reset event stores: ciphertext only, or None without a channel.

        The box carries only the channel's address (none for a letter), as the user aggregate
        holds it: sealed to the person's data key, so no plaintext is handled here at all.
        """
        if split.out_of_band is None:
            return None
        check_delivery_address(split.method, user)
        if self._sealer is None:
            raise DeliveryNotConfigured("No delivery public key is configured.")
        address = ADDRESS_FIELDS.get(split.method)
        person: dict[str, Any] = {}
        _carry(person, "sealed_login_id", "login_id", user.login_id)
        if address is not None:
            _carry(person, "sealed_address", address, getattr(user, address))
        delivery = SealedDelivery(
            secret=split.out_of_band,
            client_ext_id=user.client_ext_id,
            user_ext_id=user.ext_id,
            credential_ext_id=credential_ext_id,
            version=version,
            sending_method=split.method,
            language=user.language,
            **person,
        )
        return seal_delivery(self._sealer, delivery).to_event_attribute()


def _carry(person: dict[str, Any], sealed_name: str, plain_name: str, value: PersonalValue) -> None:
    if isinstance(value, Encrypted):
        person[sealed_name] = value
    elif value is not None:  # a user stored before data keys, until `tempstrong migrate`
        person[plain_name] = value
