"""What the AMQP transport makes of what the broker says: a verdict on one message, or a broker
that cannot take any (issue 18, item 6)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import aio_pika
import aiormq
import pamqp.commands
import pytest

from projections.publisher.amqp import AmqpTransport
from projections.publisher.messages import Kind, Outgoing
from projections.publisher.sink import BrokerUnavailable

BAD = "bad"


def _messages(*ids: str) -> list[Outgoing]:
    return [Outgoing(Kind.EVENT, "acme.tempstrongpassword.reset", i, b"{}", None) for i in ids]


def _nack() -> BaseException:
    return aio_pika.exceptions.DeliveryError(None, pamqp.commands.Basic.Nack(1))


def _closed_406() -> BaseException:
    return aiormq.exceptions.ChannelPreconditionFailed("message size exceeds the maximum")


class Broker:
    """Stands for a channel: `verdict(message, alone)` is what publishing it raises, if
    anything; counts the channels opened."""

    def __init__(self, verdict: Callable[[Outgoing, bool], BaseException | None]) -> None:
        self.verdict = verdict
        self.channels = 0

    async def ensure(self) -> dict[Kind, Any]:
        self.channels += 1
        return {Kind.EVENT: None, Kind.ENVELOPE: None}


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> Callable[..., Broker]:
    def install(verdict: Callable[[Outgoing, bool], BaseException | None]) -> Broker:
        fake = Broker(verdict)
        sizes: list[int] = []
        original = AmqpTransport._send

        async def send(self: AmqpTransport, messages: Any) -> Any:
            sizes.append(len(messages))
            return await original(self, messages)

        async def publish_one(_exchange: Any, message: Outgoing) -> None:
            failure = fake.verdict(message, sizes[-1] == 1)
            if failure is not None:
                raise failure

        monkeypatch.setattr(AmqpTransport, "_ensure", fake.ensure)
        monkeypatch.setattr(AmqpTransport, "_send", send)
        monkeypatch.setattr(AmqpTransport, "_publish_one", staticmethod(publish_one))
        return fake

    return install


async def test_a_nack_is_that_messages_verdict_and_the_others_are_confirmed(broker) -> None:
    broker(lambda message, alone: _nack() if message.message_id == BAD else None)
    results = await AmqpTransport("amqp://unused").publish(_messages("a", BAD, "c"))
    assert [type(r).__name__ if r else None for r in results] == [None, "DeliveryError", None]


async def test_a_channel_closed_by_one_message_is_traced_to_it(broker) -> None:
    # the broker closes the channel for the message at fault: every message in flight fails
    def verdict(message: Outgoing, alone: bool) -> BaseException | None:
        if message.message_id == BAD or not alone:
            return _closed_406()
        return None

    fake = broker(verdict)
    results = await AmqpTransport("amqp://unused").publish(_messages("a", BAD, "c"))
    assert [type(r).__name__ if r else None for r in results] == [
        None,
        "ChannelPreconditionFailed",
        None,
    ]
    assert fake.channels == 4  # the batch, then each message alone on a fresh channel


@pytest.mark.parametrize(
    "failure",
    [
        aiormq.exceptions.ChannelNotFoundEntity("no exchange 'tempstrong.events'"),
        aiormq.exceptions.ChannelAccessRefused("access refused"),
        aiormq.exceptions.ConnectionClosed(320, "CONNECTION_FORCED"),
        ConnectionResetError(),
        TimeoutError(),
    ],
    ids=["404", "403", "connection-closed", "reset", "timeout"],
)
async def test_what_says_the_broker_is_unusable_blames_no_message(broker, failure) -> None:
    broker(lambda message, alone: failure if message.message_id == BAD else None)
    with pytest.raises(BrokerUnavailable):
        await AmqpTransport("amqp://unused").publish(_messages("a", BAD))
