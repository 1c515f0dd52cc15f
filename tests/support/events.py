"""Writes real credential events (created, reset, deleted) into the test event store."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from service.domain.credential import TempStrongPassword
from service.domain.policy import TempStrongPasswordPolicy
from service.eventstore.application import EventStoreApp
from tests.support.envelopes import CLIENT, unique

POLICY = TempStrongPasswordPolicy()


async def credential_with(store: EventStoreApp, *, resets: int = 0, delete: bool = False) -> str:
    """Saves a credential created at version 1, then reset and/or deleted; returns its extId."""
    ext_id = unique("cred")

    def save() -> None:
        now = datetime.now(UTC)
        credential = TempStrongPassword.create(
            client_ext_id=CLIENT,
            user_ext_id=unique("user"),
            ext_id=ext_id,
            policy=POLICY,
            state_name=None,
            password_hash="{SSHA256}unused",
            delivery=None,
            actor=None,
            now=now,
        )
        for _ in range(resets):
            credential.reset(
                policy=POLICY, password_hash="{SSHA256}unused", delivery=None, actor=None, now=now
            )
        if delete:
            credential.delete(actor=None)
        store.save(credential)

    await asyncio.to_thread(save)
    return ext_id
