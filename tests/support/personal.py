"""Opening what the delivery worker opens: an envelope's address, with its person's data key."""

from __future__ import annotations

from pathlib import Path

import asyncpg

from service.contracts.envelope import SealedDelivery
from service.privacy.data_keys import DataKey
from service.privacy.keyring import WrappedKey, load_keyring


async def reveal(delivery: SealedDelivery, database_url: str, keyring: Path) -> SealedDelivery:
    """The delivery with the person's values opened (the key read from PostgreSQL); raises
    LookupError once the person's key is gone (erased)."""
    assert delivery.data_key_id is not None, "the box holds nothing sealed to a person"
    connection = await asyncpg.connect(database_url)
    try:
        row = await connection.fetchrow(
            "SELECT subject_id, wrapping_key_id, wrapped FROM personal_data_keys WHERE key_id = $1",
            delivery.data_key_id,
        )
    finally:
        await connection.close()
    if row is None:
        raise LookupError(f"data key {delivery.data_key_id} is gone")
    wrapped = WrappedKey(delivery.data_key_id, row[0], row[1], bytes(row[2]))
    key = DataKey(wrapped.key_id, load_keyring(keyring).unwrap(wrapped))
    return delivery.revealed(key.open)
