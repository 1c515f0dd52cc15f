"""Issue 11, finding 3: one client's delivery never suppresses another client's.

The dedup key was `<credential extId>:<version>`: client B's `tsp-d1` at version 3 made the
worker drop client A's `tsp-d1` version-3 mail as a duplicate. Deliveries are now deduplicated
by the id of the event that issued the secret, which names the client.
"""

from __future__ import annotations

from service.delivery.worker import Outcome
from tests.support.delivery_rig import make_rig
from tests.support.envelopes import issue


async def test_the_same_ext_id_and_version_in_two_clients_are_two_deliveries() -> None:
    rig = make_rig()
    mails = [
        issue(rig.sealer, "Email", client=client, credential="tsp-d1", version=3, email=address)
        for client, address in (("client-a", "a@example.com"), ("client-b", "b@example.com"))
    ]
    for mail in mails:
        assert await rig.worker.handle(mail.body, mail.message_id, 1) == Outcome.ack()
    assert sorted(sent.email or "" for sent in rig.email.sent) == ["a@example.com", "b@example.com"]
    assert rig.count("Email", "duplicate") == 0
    # and a redelivery of either is still a duplicate
    assert await rig.worker.handle(mails[0].body, mails[0].message_id, 1) == Outcome.ack()
    assert rig.count("Email", "duplicate") == 1 and len(rig.email.sent) == 2


async def test_a_message_id_that_is_not_the_envelopes_event_id_is_dead_lettered() -> None:
    rig = make_rig()
    mail = issue(rig.sealer, "Email", email="a@example.com")
    other = issue(rig.sealer, "Email", email="b@example.com")
    assert await rig.worker.handle(mail.body, other.message_id, 1) == Outcome.dead_letter()
    assert rig.email.sent == []
