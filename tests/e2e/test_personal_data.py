"""No personal data in the clear anywhere, and erased people gone for good.

The production processes (api, projector, publisher, delivery) on real servers, with traces
exported to a receiver of our own: people with distinctive data are registered, reset by Email
and SMS, and given comments; once every process has drained, half are deleted (erased at once)
and one live person is erased by `tempstrong erase`. Then the whole database (every table, bytea
decoded), every message RabbitMQ carried (events, envelopes), every process's log, every
`/metrics` and every trace export are searched: no person's data may appear in the clear. Every
sealed envelope is opened with the delivery private key: nothing in it yields anyone, and the
erased people's data keys are gone. The live people are answered exactly as registered.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import urllib.request
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import aio_pika
import aiohttp
import asyncpg

from service.contracts.envelope import DeliveryEnvelope, SealedDelivery, StoredDelivery
from service.contracts.topology import DELIVERY_EXCHANGE, DELIVERY_ROUTING_KEY, EVENTS_EXCHANGE
from service.domain.user import User
from service.rabbitmq.topology import declare_topology
from service.security.sealing import Opener
from tests.support.otlp import OtlpReceiver
from tests.support.process import run
from tests.support.stack import eventually, running_stack

PEOPLE = 6
ERASED_BY_DELETE = 3  # people[:3] are deleted; people[3] is erased live, by command
ADMIN = [
    "AccessControl.UserCreate",
    "AccessControl.UserView",
    "AccessControl.UserDelete",
    "AccessControl.CredentialCreate",
    "AccessControl.CredentialView",
    "AccessControl.CredentialModify",
]


@dataclass(frozen=True)
class Person:
    ext_id: str  # an identifier, not personal data: it may appear
    marker: str  # in the loginId, the email and the comment
    mobile: str
    policy: str

    @classmethod
    def new(cls, index: int) -> Person:
        marker = f"zq{secrets.token_hex(6)}"
        # the SMS sink answers a number ending in 400..599 with that status: end below 400
        mobile = f"+4179{secrets.randbelow(10**4):04d}{secrets.randbelow(400):03d}"
        policy = "tsp-default" if index % 2 == 0 else "tsp-hidden-sms"
        return cls(f"person-{index}-{secrets.token_hex(3)}", marker, mobile, policy)

    @property
    def login_id(self) -> str:
        return f"login-{self.marker}"

    @property
    def email(self) -> str:
        return f"{self.marker}@corp.local"

    @property
    def comment(self) -> str:
        return f"Ausweis von {self.marker} geprüft"

    @property
    def needles(self) -> tuple[str, ...]:
        return (self.marker, self.mobile, self.mobile.removeprefix("+"))


def found(needles: Iterable[str], *haystacks: str | bytes) -> set[str]:
    """The needles in any haystack: as text, and bytes decoded (also zlib-inflated)."""
    texts: list[str] = []
    for haystack in haystacks:
        if isinstance(haystack, bytes | bytearray | memoryview):
            raw = bytes(haystack)
            texts.append(raw.decode("utf-8", "ignore"))
            with contextlib.suppress(zlib.error):
                texts.append(zlib.decompress(raw).decode("utf-8", "ignore"))
        else:
            texts.append(str(haystack))
    return {needle for needle in needles for text in texts if needle in text}


async def _database_hits(database_url: str, needles: list[str]) -> dict[str, set[str]]:
    """Every table of the database, every value: table -> the needles found in it."""
    connection = await asyncpg.connect(database_url)
    try:
        tables = [
            row[0]
            for row in await connection.fetch(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'"
            )
        ]
        hits: dict[str, set[str]] = {}
        for table in tables:
            rows = await connection.fetch(f'SELECT * FROM "{table}"')
            values = [value for row in rows for value in row.values() if value is not None]
            hits[table] = found(needles, *(v if isinstance(v, bytes) else str(v) for v in values))
        return hits
    finally:
        await connection.close()


async def _sealed_payloads(database_url: str, envelopes: list[bytes]) -> list[SealedDelivery]:
    """Every sealed box: those of the stored events and those RabbitMQ carried."""
    connection = await asyncpg.connect(database_url)
    try:
        states = [
            bytes(row[0])
            for row in await connection.fetch(
                "SELECT state FROM tempstrong_events WHERE topic LIKE '%TempStrongPassword%'"
            )
        ]
    finally:
        await connection.close()
    boxes = [
        StoredDelivery.from_event_attribute(json.loads(state)["delivery"])
        for state in states
        if json.loads(state).get("delivery")
    ]
    carried = [DeliveryEnvelope.from_body(body) for body in envelopes]
    return [*boxes, *carried]  # type: ignore[list-item]


async def test_no_personal_data_in_the_clear_and_the_erased_are_gone(tmp_path: Path) -> None:
    otlp = OtlpReceiver()
    await otlp.start()
    logs = tmp_path / "logs"
    logs.mkdir()
    traces = {"OTEL_EXPORTER_OTLP_ENDPOINT": otlp.endpoint, "OTEL_BSP_SCHEDULE_DELAY": "100"}
    people = [Person.new(i) for i in range(PEOPLE)]
    needles = [needle for person in people for needle in person.needles]
    erased, live = people[: ERASED_BY_DELETE + 1], people[ERASED_BY_DELETE + 1 :]
    try:
        async with running_stack(tmp_path, traces, projector=True, logs=logs) as stack:
            connection = await aio_pika.connect(stack.amqp_url)
            channel = await connection.channel()
            await declare_topology(channel)
            # what a consumer bound to everything receives, and a copy of every envelope
            events_queue = await channel.declare_queue("scan-events", auto_delete=True)
            await events_queue.bind(EVENTS_EXCHANGE, "#")
            envelopes_queue = await channel.declare_queue("scan-envelopes", auto_delete=True)
            await envelopes_queue.bind(DELIVERY_EXCHANGE, DELIVERY_ROUTING_KEY)
            token = run(
                ["token", "--keys", "k", "--client", "acme", "--permissions", *ADMIN],
                {},
                tmp_path,
            ).stdout.strip()
            headers = {"X-Token": token}
            async with aiohttp.ClientSession(headers=headers) as admin:
                for person in people:
                    await _register_reset_and_comment(admin, stack.base, person)
                # drained: every envelope (create and reset of each) was handled, and each
                # person's latest code arrived by mail or SMS (a reset supersedes the create's
                # code when both wait in the queue together: then only one goes out)
                await eventually(lambda: _handled(stack) >= 2 * PEOPLE, timeout=60)
                await eventually(lambda: all(_received(stack, p) for p in people), timeout=30)
                for person in people[:ERASED_BY_DELETE]:
                    async with admin.delete(f"{stack.base}/users/{person.ext_id}") as response:
                        assert response.status == 204
                erase = run(
                    ["erase", "--client", "acme", "--user", people[3].ext_id, "--actor", "dpo"],
                    stack.env,
                    tmp_path,
                )
                assert erase.returncode == 0, erase.stderr
                assert "erased" in erase.stdout
                events = await _drain_until(events_queue, lambda bodies: _erasures(bodies) >= 4)
                envelopes = await _drain_until(
                    envelopes_queue, lambda bodies: len(bodies) >= 2 * PEOPLE
                )
                await eventually(lambda: _projected(stack), timeout=30)
                metrics = [await _text(admin, url) for url in stack.metrics_urls.values()]
                answers = {p.ext_id: await _answers(admin, stack.base, p) for p in people}
                await connection.close()
                database = await _database_hits(stack.database_url, needles)
                payloads = await _sealed_payloads(
                    stack.database_url, [message.body for message in envelopes]
                )
                keys = await _key_subjects(stack.database_url)
            cli_output = erase.stdout + erase.stderr
        await asyncio.sleep(0.5)  # the last trace exports
        log_text = "\n".join(path.read_text() for path in logs.glob("*.log"))
    finally:
        await otlp.close()

    # 0. the scanner finds what is there: the live people's answers hold their data
    live_needles = {needle for person in live for needle in person.needles}
    assert found(needles, json.dumps(answers)) == live_needles
    print(  # the places searched (pytest -s shows it)
        f"scanned: {len(database)} tables, {len(events)} events and {len(envelopes)} envelopes "
        f"RabbitMQ carried, {len(log_text.splitlines())} log lines, {len(metrics)} /metrics, "
        f"{len(otlp.raw)} trace exports, {len(payloads)} sealed payloads opened"
    )

    # 1. nowhere in the clear: the database, RabbitMQ, the logs, /metrics, the traces
    assert {table: hits for table, hits in database.items() if hits} == {}
    assert found(needles, *(message.everything for message in events)) == set()
    assert found(needles, *(message.everything for message in envelopes)) == set()
    assert found(needles, log_text, cli_output) == set()
    assert found(needles, *metrics) == set()
    assert otlp.raw and found(needles, *otlp.raw) == set()

    # 2. every sealed box opened with the delivery private key yields no one, and the erased
    #    people's data keys are gone: nothing left can open what was sealed to them
    opener = Opener((tmp_path / "k" / "delivery-private.key").read_text().strip())
    opened = [opener.open({"keyId": box.key_id, "sealed": box.sealed}) for box in payloads]
    assert len(opened) >= 2 * PEOPLE
    assert found(needles, *(json.dumps(box, ensure_ascii=False) for box in opened)) == set()
    assert all("email" not in box and "mobile" not in box for box in opened)
    erased_subjects = {User.create_id("acme", p.ext_id) for p in erased}
    live_subjects = {User.create_id("acme", p.ext_id) for p in live}
    assert keys == live_subjects and not keys & erased_subjects

    # 3. consumers were told; the live are answered exactly as registered, the erased are gone
    bodies = [json.loads(message.body) for message in events]
    told = [b for b in bodies if b["type"] == "ch.nevis.idm.user.erased.v1"]
    assert sorted(b["data"]["userExtId"] for b in told) == sorted(p.ext_id for p in erased)
    assert all(set(b["data"]) == {"clientExtId", "userExtId", "erasedAt"} for b in told)
    for person in live:
        assert answers[person.ext_id] == {
            "loginId": person.login_id,
            "email": person.email,
            "mobile": person.mobile,
            "modificationComment": person.comment,
        }
    for person in erased:
        assert answers[person.ext_id] == {"status": 404}


async def _register_reset_and_comment(
    session: aiohttp.ClientSession, base: str, person: Person
) -> None:
    profile = {
        "extId": person.ext_id,
        "loginId": person.login_id,
        "email": person.email,
        "mobile": person.mobile,
        "language": "de",
    }
    credential = f"{base}/users/{person.ext_id}/tempstrong-password"
    async with session.post(f"{base}/users", json=profile) as response:
        assert response.status == 201, await response.text()
    async with session.post(credential, json={"policyExtId": person.policy}) as response:
        assert response.status == 201, await response.text()
    async with session.post(f"{credential}/reset") as response:
        assert response.status in (200, 204), await response.text()
    async with session.get(credential) as response:
        version = (await response.json())["version"]
    patch = {"version": version, "modificationComment": person.comment}
    async with session.patch(credential, json=patch) as response:
        assert response.status == 200, await response.text()
        assert (await response.json())["modificationComment"] == person.comment


def _received(stack, person: Person) -> list[object]:  # type: ignore[no-untyped-def]
    return [*stack.smtp.to(person.email), *stack.sms.to(person.mobile)]


def _handled(stack) -> int:  # type: ignore[no-untyped-def]
    """Envelopes the delivery worker is done with, whatever the outcome (its /metrics)."""
    with urllib.request.urlopen(stack.metrics_urls["delivery"], timeout=2) as response:
        text = response.read().decode()
    return int(
        sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("tempstrong_deliveries_total{") and 'outcome="retried"' not in line
        )
    )


def _erasures(bodies: list[bytes]) -> int:
    return sum(b"ch.nevis.idm.user.erased.v1" in body for body in bodies)


@dataclass(frozen=True)
class Carried:
    """A message RabbitMQ carried: its body, and its headers and ids (scanned too)."""

    body: bytes
    around: bytes

    @property
    def everything(self) -> bytes:
        return self.body + b"\n" + self.around


async def _drain_until(queue, enough, timeout: float = 60) -> list[Carried]:  # type: ignore[no-untyped-def]
    carried: list[Carried] = []
    deadline = asyncio.get_running_loop().time() + timeout
    while not enough([message.body for message in carried]):
        assert asyncio.get_running_loop().time() < deadline, f"only {len(carried)} messages"
        message = await queue.get(fail=False, timeout=5)
        if message is None:
            await asyncio.sleep(0.1)
            continue
        await message.ack()
        headers = json.dumps(dict(message.headers or {}), default=str).encode()
        ids = f"{message.message_id} {message.correlation_id}".encode()
        carried.append(Carried(message.body, headers + b"\n" + ids))
    return carried


def _projected(stack) -> bool:  # type: ignore[no-untyped-def]
    """The projector has applied everything: its lag gauge reads 0 at /metrics."""
    with urllib.request.urlopen(stack.metrics_urls["projector"], timeout=2) as response:
        text = response.read().decode()
    lines = [
        line for line in text.splitlines() if line.startswith("tempstrong_projection_lag_events")
    ]
    return bool(lines) and all(line.rstrip().endswith(" 0.0") for line in lines)


async def _text(session: aiohttp.ClientSession, url: str) -> str:
    async with session.get(url) as response:
        return await response.text()


async def _answers(session: aiohttp.ClientSession, base: str, person: Person) -> dict[str, object]:
    async with session.get(f"{base}/users/{person.ext_id}") as response:
        if response.status == 404:
            return {"status": 404}
        user = await response.json()
    async with session.get(f"{base}/users/{person.ext_id}/tempstrong-password") as response:
        credential = await response.json()
    return {
        "loginId": user.get("loginId"),
        "email": user.get("email"),
        "mobile": user.get("mobile"),
        "modificationComment": credential.get("modificationComment"),
    }


async def _key_subjects(database_url: str) -> set[object]:
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch("SELECT subject_id FROM personal_data_keys")
    finally:
        await connection.close()
    return {row[0] for row in rows}
