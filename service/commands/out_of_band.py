"""Sealing what the out-of-band channel carries, to the delivery worker's public key."""

from __future__ import annotations

from ..contracts.envelope import SealedDelivery, seal_delivery
from ..domain.errors import DeliveryNotConfigured
from ..domain.out_of_band import PasswordSplit, check_delivery_address
from ..domain.user import User
from ..security.sealing import Sealer


class OutOfBand:
    def __init__(self, sealer: Sealer | None) -> None:
        self._sealer = sealer

    def seal(
        self, split: PasswordSplit, user: User, credential_ext_id: str, version: int
    ) -> dict[str, str] | None:
        """What the Created or Reset event stores: ciphertext only, or None without a channel."""
        if split.out_of_band is None:
            return None
        check_delivery_address(split.method, user)
        if self._sealer is None:
            raise DeliveryNotConfigured("No delivery public key is configured.")
        delivery = SealedDelivery(
            secret=split.out_of_band,
            client_ext_id=user.client_ext_id,
            user_ext_id=user.ext_id,
            credential_ext_id=credential_ext_id,
            version=version,
            sending_method=split.method,
            login_id=user.login_id,
            email=user.email,
            mobile=user.mobile,
            language=user.language,
        )
        return seal_delivery(self._sealer, delivery).to_event_attribute()
