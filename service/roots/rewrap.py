"""`tempstrong rewrap`: re-wraps every person's data key with the keyring's first key."""

from __future__ import annotations

import asyncio

from ..config import REWRAP, Settings
from ..eventstore.keys import Rewrapped, keys_to_rewrap, rewrap_all
from ..postgres.pool import create_pool
from ..privacy.keyring import Keyring
from .parts import build_keyring, require_reachable
from .progress import Progress


async def run(database_url: str, keyring: Keyring) -> Rewrapped:
    pool = await create_pool(database_url, min_size=1, max_size=1, timeout=10)
    try:
        progress = Progress("rewrap", "keys", await keys_to_rewrap(pool, keyring))
        try:
            return await rewrap_all(pool, keyring, progress.reach)
        finally:
            progress.close()
    finally:
        await pool.close()


def main(settings: Settings) -> int:
    """0 once every key is wrapped by the first key of the ring; 1 if some could not be."""
    settings.require(REWRAP, "database_url", "personal_data_keys")
    assert settings.database_url
    keyring = build_keyring(settings)
    require_reachable(REWRAP, settings)
    result = asyncio.run(run(settings.database_url, keyring))
    first = keyring.current.key_id
    print(
        f"tempstrong rewrap: {result.rewrapped} data key(s) re-wrapped with {first!r} "
        f"({result.already} were already)"
    )
    if result.failed:
        print(
            f"tempstrong rewrap: {result.failed} data key(s) open with no key of the ring: "
            "they stay as they are (add the key that wrapped them, then run rewrap again)"
        )
        return 1
    others = [key_id for key_id in keyring.key_ids if key_id != first]
    if others:
        print(f"tempstrong rewrap: {', '.join(others)} can now leave the keyring")
    return 0
