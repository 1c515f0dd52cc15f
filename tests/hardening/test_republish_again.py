"""Issue 18, item 7: republishing an event that was republished already needs `--again`.

Before, `tempstrong republish` published it again without a word. A second republish puts one
more copy before consumers, and the envelope before the delivery worker, which deduplicates it
by the event id: never a second mail.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import replace
from typing import Any

from projections.parking import PARKED_TABLE
from projections.publisher.messages import Kind
from service.commands.outcomes import UserProfile
from service.config import Settings
from service.domain.credential import TempStrongPassword
from service.domain.ids import event_id
from service.roots.delivery import run as run_delivery
from tests.conftest import HASH_KEY
from tests.support.process import run
from tests.support.publishing import PublishingWorld, drain, publishing_world
from tests.support.sinks import SmtpSink
from tests.support.waiting import eventually

ANN_RESET = event_id(TempStrongPassword.create_id("acme", "cred-ann"), 2)


def _refuse_ann_reset_envelope(message: Any) -> bool:
    return bool(message.kind is Kind.ENVELOPE and message.message_id == str(ANN_RESET))


async def _user(world: PublishingWorld, name: str) -> None:
    await world.commands.users.register("acme", name, UserProfile(email=f"{name}@example.com"))
    await world.commands.credentials.create(
        "acme", name, ext_id=f"cred-{name}", policy_ext_id=None, state_name=None, actor="h"
    )


async def _republish(world: PublishingWorld, *options: str) -> Any:
    env = {"TEMPSTRONG_DATABASE_URL": world.database_url, "TEMPSTRONG_AMQP_URL": world.amqp_url}
    return await asyncio.to_thread(run, ["republish", str(ANN_RESET), *options], env, os.getcwd())


async def test_a_second_republish_needs_again_and_never_sends_a_second_mail(
    settings: Settings, delivery_keys: Any
) -> None:
    sink = SmtpSink()
    sink.start()
    try:
        async with publishing_world(
            settings, HASH_KEY, refuse=_refuse_ann_reset_envelope, park_after=0.0
        ) as world:
            delivery = replace(
                settings,
                database_url=world.database_url,
                amqp_url=world.amqp_url,
                delivery_private_key=delivery_keys.delivery_private_key,
                smtp_url=sink.url,
                # one message at a time: bob's mail comes only after ann's copy was settled
                delivery_prefetch=1,
                delivery_backoff_seconds=0.2,
                delivery_backoff_cap_seconds=1.0,
            )
            stop = asyncio.Event()
            worker = asyncio.create_task(run_delivery(delivery, stop))
            try:
                await _republish_twice(world, sink)
            finally:
                stop.set()
                await worker
    finally:
        sink.stop()


async def _republish_twice(world: PublishingWorld, sink: SmtpSink) -> None:
    await _user(world, "ann")  # created: a mail
    await eventually(lambda: len(sink.to("ann@example.com")) == 1, timeout=30)
    await world.commands.credentials.reset("acme", "ann", actor="h", idempotency=None)
    await eventually(
        lambda: world.pool.fetchval(f"SELECT count(*) FROM {PARKED_TABLE} WHERE NOT held"),
        timeout=30,
    )

    first = await _republish(world)
    assert first.returncode == 0, first.stderr
    await eventually(lambda: len(sink.to("ann@example.com")) == 2, timeout=30)
    republished_at = await world.pool.fetchval(f"SELECT republished_at FROM {PARKED_TABLE}")

    refused = await _republish(world)
    assert refused.returncode == 1
    [line] = refused.stderr.splitlines()
    assert "already republished at" in line and "--again" in line
    assert republished_at.isoformat(timespec="seconds")[:19] in line

    await drain(world.events, 3)  # ann's created, her reset, the reset republished
    again = await _republish(world, "--again")
    assert again.returncode == 0, again.stderr
    # consumers get another copy of the event...
    copies = await drain(world.events, 1)
    assert [m.message_id for m in copies] == [str(ANN_RESET)]
    # ...and the delivery worker deduplicates the envelope: bob's mail comes, ann's does not
    await _user(world, "bob")
    await eventually(lambda: sink.to("bob@example.com"), timeout=30)
    mails = sink.to("ann@example.com")
    assert len(mails) == 2 and mails[0].text != mails[1].text  # created, reset: once each
