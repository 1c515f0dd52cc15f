"""Issue 18, item 6: an event the broker refuses is set aside, not a reason to stop the stream.

Before, a refused event alone at the head was taken for a broker outage (never parked until
other traffic came), a partly refused batch was retried whole (every client waited for the
follower's backoff, up to 5 s per try, and the accepted events went out again each time), and it
was parked only after 5 attempts and 10 s: a consumer bound to `#` got one copy of the refused
event per attempt, 16 to 26 of them.
"""

from __future__ import annotations

import json
from typing import Any

from projections.parking import PARKED_TABLE
from projections.publisher.held import RETRY_DELAYS_SECONDS
from projections.publisher.messages import Kind
from service.commands.outcomes import UserProfile
from service.contracts.topology import EVENTS_EXCHANGE
from service.domain.credential import TempStrongPassword
from service.domain.ids import event_id
from tests.conftest import HASH_KEY
from tests.support.clock import SettableMonotonic
from tests.support.publishing import PublishingWorld, drain, publishing_world
from tests.support.waiting import eventually

ANN = TempStrongPassword.create_id("acme", "cred-ann")
ANN_CREATED, ANN_RESET = event_id(ANN, 1), event_id(ANN, 2)


async def _create(world: PublishingWorld, client: str, user: str) -> None:
    await world.commands.users.register(client, user, UserProfile(email=f"{user}@example.com"))
    await world.commands.credentials.create(
        client, user, ext_id=f"cred-{user}", policy_ext_id=None, state_name=None, actor="h"
    )


async def _rows(world: PublishingWorld) -> list[tuple[Any, ...]]:
    """(event id, held, attempts) of the publisher's held and parked events."""
    return [
        (r["event_id"], r["held"], r["attempts"])
        for r in await world.pool.fetch(
            f"SELECT event_id, held, attempts FROM {PARKED_TABLE} "
            "WHERE follower = 'publisher' ORDER BY notification_id"
        )
    ]


async def _position(world: PublishingWorld) -> int:
    query = "SELECT position FROM projection_tracking WHERE name = 'publisher'"
    return int(await world.pool.fetchval(query))


async def _head(world: PublishingWorld) -> int:
    return int(await world.pool.fetchval("SELECT max(notification_id) FROM tempstrong_events"))


def _subjects(messages: list[Any]) -> list[tuple[str, int]]:
    bodies = [json.loads(m.body) for m in messages]
    return [(b["subject"], b["data"]["version"]) for b in bodies]


def _refuse_ann_created(message: Any) -> bool:
    return bool(message.kind is Kind.EVENT and message.message_id == str(ANN_CREATED))


async def test_a_refused_event_alone_is_parked_and_a_catch_all_consumer_gets_one_copy_per_try(
    settings,
):
    async with publishing_world(settings, HASH_KEY) as world:
        # a queue at its length limit that rejects publishes: the broker nacks every event of
        # client "other" (and still routes a copy to the test's queue bound to "#")
        full = await world.channel.declare_queue(
            "full", arguments={"x-max-length": 0, "x-overflow": "reject-publish"}
        )
        await full.bind(EVENTS_EXCHANGE, routing_key="other.tempstrongpassword.#")
        await _create(world, "other", "oli")
        refused = event_id(TempStrongPassword.create_id("other", "cred-oli"), 1)
        # nothing else happens: it is parked all the same
        await eventually(lambda: _rows(world), timeout=30)
        await eventually(lambda: _parked_only(world, refused), timeout=30)
        [(_, _, attempts)] = await _rows(world)
        copies = await drain(world.events, attempts)
        assert [m.message_id for m in copies] == [str(refused)] * attempts
        assert attempts <= len(RETRY_DELAYS_SECONDS) + 1
        assert world.metric("tempstrong_parked_total", {"follower": "publisher"}) == 1
        # and the stream goes on
        await _create(world, "acme", "after")
        assert _subjects(await drain(world.events, 1)) == [("cred-after", 1)]


async def _parked_only(world: PublishingWorld, refused: Any) -> bool:
    rows = await _rows(world)
    return len(rows) == 1 and rows[0][0] == refused and rows[0][1] is False


async def test_other_credentials_flow_while_the_refused_credential_waits_until_it_is_parked(
    settings,
):
    clock = SettableMonotonic()
    async with publishing_world(
        settings, HASH_KEY, refuse=_refuse_ann_created, clock=clock
    ) as world:
        await _create(world, "acme", "ann")  # refused
        await _create(world, "acme", "bob")  # another credential: published at once
        await world.commands.credentials.reset("acme", "ann", actor="h", idempotency=None)
        assert _subjects(await drain(world.events, 1)) == [("cred-bob", 1)]
        # the position moved past all three; ann's two events are held rows, the reset waiting
        await eventually(lambda: _held_both(world))
        assert await _position(world) == await _head(world)
        # the deadline passes with no other traffic: parked, and ann's reset goes out
        clock.advance(10.0)
        published = await drain(world.events, 1)
        assert _subjects(published) == [("cred-ann", 2)]
        assert [(e, held) for e, held, _ in await _rows(world)] == [(ANN_CREATED, False)]


async def _held_both(world: PublishingWorld) -> bool:
    rows = await _rows(world)
    return [(e, held) for e, held, _ in rows] == [(ANN_CREATED, True), (ANN_RESET, True)] and (
        rows[1][2] == 0  # never tried: it waits behind the created event
    )


async def test_held_events_survive_a_restart_and_keep_their_credentials_order(settings):
    async with publishing_world(settings, HASH_KEY, refuse=_refuse_ann_created) as world:
        await _create(world, "acme", "ann")
        await world.commands.credentials.reset("acme", "ann", actor="h", idempotency=None)
        await eventually(lambda: _held_both(world))

        def broker_takes_it() -> None:
            world.transport.refuse = lambda message: False

        await world.restart_publisher(broker_takes_it)
        published = await drain(world.events, 2)
        assert _subjects(published) == [("cred-ann", 1), ("cred-ann", 2)]
        assert await _rows(world) == []
