"""Dev mode's in-process transport on the embedded SQLite store: files in var/outbox, var/spool."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path

from service.delivery.backoff import Backoff
from service.delivery.inprocess_queue import InProcessQueue
from service.eventstore.application import EventStoreApp, sqlite_env
from service.eventstore.threaded import ThreadedStore
from service.privacy.keyring import load_keyring
from service.roots.dev import dev_delivery
from service.security.devkeys import DevKeys
from service.security.sealing import Sealer
from tests.support.envelopes import issue
from tests.support.events import credential_with
from tests.support.waiting import eventually


async def test_dev_delivery_writes_outbox_and_spool_files(
    tmp_path: Path, delivery_keys: DevKeys, sealer: Sealer
) -> None:
    store = EventStoreApp(env=sqlite_env(str(tmp_path / "dev.sqlite")))
    var = tmp_path / "var"
    announced: list[str] = []
    delivery = dev_delivery(
        var,
        delivery_keys.delivery_private_key,
        load_keyring(delivery_keys.personal_data_keys_path),
        ThreadedStore(store),
        InProcessQueue(),
        announced.append,
        backoff=Backoff(0.05, 0.1),
    )
    stop = asyncio.Event()
    task = asyncio.create_task(delivery.run(stop))
    try:
        superseded = await credential_with(store, resets=1)
        mail = issue(sealer, "Email", email="dev@example.com", login_id="dev")
        sms = issue(sealer, "SMS", mobile="+41790000000")
        letter = issue(sealer, "PDFstore", login_id="dev.letter")
        stale = issue(sealer, "Email", email="old@example.com", credential=superseded)
        garbage = (b"{}", "nothing:1")
        for message in (mail, sms, letter, stale, mail):
            delivery.publish(message.body, message.message_id)
        delivery.publish(*garbage)
        client = var / "outbox" / "acme"
        eml = client / f"{mail.user_ext_id}-1.eml"
        txt = client / f"{sms.user_ext_id}-1.sms.txt"
        pdf = var / "spool" / "acme" / f"{letter.user_ext_id}-1.pdf"
        await eventually(lambda: eml.exists() and txt.exists() and pdf.exists(), timeout=10)
        await eventually(lambda: len(delivery.dead_letters) == 1, timeout=10)
        for path in (eml, txt, pdf):
            assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert f"Code: {mail.secret}" in eml.read_text().splitlines()
        assert f"Code: {sms.secret}" in txt.read_text().splitlines()
        assert pdf.read_bytes().startswith(b"%PDF")
        assert sorted(p.name for p in client.iterdir()) == sorted([eml.name, txt.name])
        assert delivery.dead_letters[0].message_id == "nothing:1"
        # the dev console names the file each message went to
        assert any(line.endswith(str(eml)) for line in announced)
        assert any(line.endswith(str(pdf)) for line in announced)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout=10)
        store.close()
