"""The worker's decisions, with fake channels: deliver once, skip, retry, dead-letter."""

from __future__ import annotations

import json
import logging

import pytest
from nacl.public import PrivateKey

from service.delivery.backoff import Backoff
from service.delivery.data_keys import TableDataKeys
from service.delivery.failures import PermanentFailure, TransientFailure
from service.delivery.metrics import DeliveryMetrics
from service.delivery.worker import Action, DeliveryWorker, Outcome
from service.domain.credential import TempStrongPassword
from service.domain.policy import SendingMethod
from service.eventstore.keys import MemoryKeyTable
from service.privacy.keyring import new_keyring_document, parse_keyring
from service.security.sealing import Opener, Sealer, encode_key
from tests.support.delivery_fakes import FakeChannel, FakeSupersession, FlakyDedup
from tests.support.delivery_rig import BACKOFF, MAX_ATTEMPTS, make_rig
from tests.support.envelopes import CLIENT, PersonalKeys, issue


async def test_delivers_and_records_then_acks() -> None:
    rig = make_rig()
    issued = rig.mail(login_id="alice", language="de")
    outcome = await rig.worker.handle(issued.body, issued.message_id, 1)
    assert outcome == Outcome.ack()
    [sent] = rig.email.sent
    assert sent.secret == issued.secret and sent.email == "alice@example.com"
    assert sent.login_id == "alice" and sent.language == "de" and sent.version == 1
    assert issued.message_id in rig.dedup.message_ids
    assert rig.count("Email", "delivered") == 1


async def test_a_redelivered_message_is_acked_without_sending_again() -> None:
    rig = make_rig()
    issued = rig.mail()
    await rig.worker.handle(issued.body, issued.message_id, 1)
    outcome = await rig.worker.handle(issued.body, issued.message_id, 1)
    assert outcome.action is Action.ACK
    assert len(rig.email.sent) == 1
    assert rig.count("Email", "duplicate") == 1


async def test_a_superseded_envelope_is_skipped() -> None:
    rig = make_rig()
    issued = rig.mail(version=2)
    rig.supersession.latest[TempStrongPassword.create_id(CLIENT, issued.credential_ext_id)] = 3
    outcome = await rig.worker.handle(issued.body, issued.message_id, 1)
    assert outcome.action is Action.ACK
    assert rig.email.sent == []
    assert rig.count("Email", "skipped_superseded") == 1


async def test_the_latest_envelope_is_delivered() -> None:
    rig = make_rig()
    issued = rig.mail(version=3)
    rig.supersession.latest[TempStrongPassword.create_id(CLIENT, issued.credential_ext_id)] = 3
    assert (await rig.worker.handle(issued.body, issued.message_id, 1)).action is Action.ACK
    assert len(rig.email.sent) == 1


async def test_a_permanent_failure_is_dead_lettered_at_once() -> None:
    rig = make_rig(email_failures=[PermanentFailure("SMTP 550: recipient refused")])
    issued = rig.mail()
    outcome = await rig.worker.handle(issued.body, issued.message_id, 1)
    assert outcome == Outcome.dead_letter()
    assert issued.message_id not in rig.dedup.message_ids
    assert rig.count("Email", "dead_lettered") == 1


@pytest.mark.parametrize(("attempt", "delay"), [(1, 1.0), (2, 2.0)], ids=["first", "second"])
async def test_a_transient_failure_is_retried_with_exponential_backoff(
    attempt: int, delay: float
) -> None:
    rig = make_rig(email_failures=[TransientFailure("SMTP unavailable")])
    issued = rig.mail()
    outcome = await rig.worker.handle(issued.body, issued.message_id, attempt)
    assert outcome == Outcome.retry(delay, attempt + 1)
    assert rig.count("Email", "retried") == 1


async def test_the_last_attempt_is_dead_lettered() -> None:
    rig = make_rig(email_failures=[TransientFailure("SMTP unavailable")])
    issued = rig.mail()
    outcome = await rig.worker.handle(issued.body, issued.message_id, MAX_ATTEMPTS)
    assert outcome.action is Action.DEAD_LETTER
    assert rig.count("Email", "dead_lettered") == 1


async def test_a_retry_after_failures_delivers() -> None:
    rig = make_rig(email_failures=[TransientFailure("x"), TransientFailure("y")])
    issued = rig.mail()
    actions = [
        (await rig.worker.handle(issued.body, issued.message_id, n)).action for n in (1, 2, 3)
    ]
    assert actions == [Action.RETRY, Action.RETRY, Action.ACK]
    assert len(rig.email.sent) == 1


async def test_an_own_database_outage_retries_without_spending_an_attempt() -> None:
    rig = make_rig()
    rig.dedup.down = True
    issued = rig.mail()
    outcome = await rig.worker.handle(issued.body, issued.message_id, MAX_ATTEMPTS)
    assert outcome == Outcome.retry(BACKOFF.delay(MAX_ATTEMPTS), MAX_ATTEMPTS)
    rig.dedup.down = False
    rig.supersession.unavailable = True
    outcome = await rig.worker.handle(issued.body, issued.message_id, 2)
    assert outcome == Outcome.retry(BACKOFF.delay(2), 2)
    assert rig.email.sent == []


async def test_the_dedup_record_is_retried_after_the_channel_accepted() -> None:
    rig = make_rig(record_failures=2)
    issued = rig.mail()
    assert (await rig.worker.handle(issued.body, issued.message_id, 1)).action is Action.ACK
    assert issued.message_id in rig.dedup.message_ids
    assert len(rig.email.sent) == 1


async def test_an_unrecordable_delivery_is_still_acked_so_it_is_not_sent_twice() -> None:
    rig = make_rig(record_failures=1000, record_deadline=0.3)
    issued = rig.mail()
    assert (await rig.worker.handle(issued.body, issued.message_id, 1)).action is Action.ACK
    assert len(rig.email.sent) == 1


async def test_an_unexpected_error_in_a_channel_is_retried() -> None:
    rig = make_rig(email_failures=[RuntimeError("boom")])
    issued = rig.mail()
    outcome = await rig.worker.handle(issued.body, issued.message_id, 1)
    assert outcome.action is Action.RETRY


@pytest.mark.parametrize(
    "body",
    [b"", b"not json", b"[]", b'{"keyId": "00", "sealed": "AAAA", "sendingMethod": "Fax"}'],
)
async def test_an_unreadable_envelope_is_dead_lettered(body: bytes) -> None:
    rig = make_rig()
    assert (await rig.worker.handle(body, "c:1", 1)).action is Action.DEAD_LETTER
    assert rig.count("unknown", "dead_lettered") + rig.count("Fax", "dead_lettered") == 1


async def test_an_envelope_for_an_unknown_key_is_dead_lettered() -> None:
    rig = make_rig()
    other = Sealer(encode_key(PrivateKey.generate().public_key))
    issued = issue(other, "Email", email="a@example.com")
    assert (await rig.worker.handle(issued.body, issued.message_id, 1)).action is Action.DEAD_LETTER
    assert rig.count("Email", "dead_lettered") == 1


async def test_a_tampered_envelope_is_dead_lettered() -> None:
    rig = make_rig()
    issued = rig.mail()
    document = json.loads(issued.body)
    document["sealed"] = document["sealed"][:-8] + "AAAAAAA="
    body = json.dumps(document).encode()
    assert (await rig.worker.handle(body, issued.message_id, 1)).action is Action.DEAD_LETTER


async def test_a_sending_method_changed_outside_the_seal_is_dead_lettered() -> None:
    rig = make_rig()
    issued = rig.mail()
    document = json.loads(issued.body)
    document["sendingMethod"] = "SMS"
    body = json.dumps(document).encode()
    assert (await rig.worker.handle(body, issued.message_id, 1)).action is Action.DEAD_LETTER
    assert rig.sms.sent == [] and rig.email.sent == []


async def test_a_message_id_that_does_not_match_the_sealed_version_is_dead_lettered() -> None:
    rig = make_rig()
    issued = rig.mail(version=2)
    outcome = await rig.worker.handle(issued.body, f"{issued.credential_ext_id}:3", 1)
    assert outcome.action is Action.DEAD_LETTER
    assert (await rig.worker.handle(issued.body, "", 1)).action is Action.DEAD_LETTER


async def test_a_method_without_a_configured_channel_is_dead_lettered() -> None:
    rig = make_rig(without_sms=True)
    issued = issue(rig.sealer, "SMS", mobile="+41790000000")
    assert (await rig.worker.handle(issued.body, issued.message_id, 1)).action is Action.DEAD_LETTER


async def test_rotated_keys_open_envelopes_sealed_to_either() -> None:
    old, new = PrivateKey.generate(), PrivateKey.generate()
    email = FakeChannel()
    keys = PersonalKeys(parse_keyring(new_keyring_document()), MemoryKeyTable())
    worker = DeliveryWorker(
        opener=Opener(f"{encode_key(new)},{encode_key(old)}"),
        keyring=keys.keyring,
        data_keys=TableDataKeys(keys.table),
        channels={SendingMethod.EMAIL: email},
        dedup=FlakyDedup(),
        supersession=FakeSupersession(),
        metrics=DeliveryMetrics(),
        max_attempts=MAX_ATTEMPTS,
        backoff=BACKOFF,
    )
    for key in (old, new):
        sealer = Sealer(encode_key(key.public_key))
        issued = issue(sealer, "Email", email="a@example.com", keys=keys)
        assert (await worker.handle(issued.body, issued.message_id, 1)).action is Action.ACK
    assert len(email.sent) == 2


async def test_the_secret_stays_out_of_logs_and_reprs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    rig = make_rig(
        email_failures=[TransientFailure("SMTP unavailable"), PermanentFailure("SMTP 550")]
    )
    issued = rig.mail(login_id="alice")
    for attempt in (1, 2):
        await rig.worker.handle(issued.body, issued.message_id, attempt)
    second = rig.mail()
    await rig.worker.handle(second.body, second.message_id, 1)
    records = [vars(record) for record in caplog.records]
    assert records, "the worker logs each outcome"
    assert {record["outcome"] for record in records} >= {"retried", "dead_lettered"}
    text = caplog.text + repr(records)
    for secret in (issued.secret, second.secret):
        assert secret not in text
    assert "alice@example.com" not in text
    assert len(rig.email.sent) == 1
    assert second.secret not in repr(rig.email.sent)


def test_backoff_doubles_up_to_the_cap() -> None:
    backoff = Backoff(base=0.5, cap=3.0)
    assert [backoff.delay(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert backoff.delays(5) == [0.5, 1.0, 2.0, 3.0]
    assert backoff.delay(10_000) == 3.0
