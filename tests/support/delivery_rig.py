"""The delivery worker's core on fakes: a sealer, the worker, its channels and ledgers."""

from __future__ import annotations

from dataclasses import dataclass

from nacl.public import PrivateKey

from service.delivery.backoff import Backoff
from service.delivery.channels import Channel
from service.delivery.data_keys import TableDataKeys
from service.delivery.metrics import DeliveryMetrics
from service.delivery.worker import DeliveryWorker
from service.domain.policy import SendingMethod
from service.eventstore.keys import MemoryKeyTable
from service.privacy.keyring import new_keyring_document, parse_keyring
from service.security.sealing import Opener, Sealer, encode_key
from tests.support.delivery_fakes import FakeChannel, FakeSupersession, FlakyDedup
from tests.support.envelopes import Issued, PersonalKeys, issue

BACKOFF = Backoff(base=1.0, cap=8.0)
MAX_ATTEMPTS = 3


@dataclass
class Rig:
    sealer: Sealer
    worker: DeliveryWorker
    email: FakeChannel
    sms: FakeChannel
    dedup: FlakyDedup
    supersession: FakeSupersession
    metrics: DeliveryMetrics
    keys: PersonalKeys

    def count(self, channel: str, outcome: str) -> float:
        value = self.metrics.registry.get_sample_value(
            "tempstrong_deliveries_total", {"channel": channel, "outcome": outcome}
        )
        return value or 0.0

    def mail(self, **kwargs: object) -> Issued:
        """An Email envelope as the API seals it now (the address sealed to the person)."""
        return issue(
            self.sealer,
            "Email",
            email="alice@example.com",
            keys=self.keys,
            **kwargs,  # type: ignore[arg-type]
        )


def make_rig(
    email_failures: list[Exception] | None = None,
    record_failures: int = 0,
    record_deadline: float = 1.0,
    without_sms: bool = False,
    relay: Channel | None = None,
) -> Rig:
    """`relay`: a real email channel in place of the fake one (`rig.email` then sees nothing)."""
    key = PrivateKey.generate()
    email = FakeChannel(email_failures or [])
    sms = FakeChannel()
    dedup = FlakyDedup(record_failures)
    supersession = FakeSupersession()
    metrics = DeliveryMetrics()
    channels: dict[SendingMethod, Channel] = {SendingMethod.EMAIL: relay or email}
    if not without_sms:
        channels[SendingMethod.SMS] = sms
    keys = PersonalKeys(parse_keyring(new_keyring_document()), MemoryKeyTable())
    worker = DeliveryWorker(
        opener=Opener(encode_key(key)),
        keyring=keys.keyring,
        data_keys=TableDataKeys(keys.table),
        channels=channels,
        dedup=dedup,
        supersession=supersession,
        metrics=metrics,
        max_attempts=MAX_ATTEMPTS,
        backoff=BACKOFF,
        record_deadline=record_deadline,
    )
    sealer = Sealer(encode_key(key.public_key))
    return Rig(sealer, worker, email, sms, dedup, supersession, metrics, keys)
