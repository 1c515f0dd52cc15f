"""The names service/eventstore/names.py gives the tables and the channel are the library's own:
a library that names them otherwise would split our readers from its writers."""

from __future__ import annotations

from service.eventstore.application import EventStoreApp
from service.eventstore.names import EVENTS_CHANNEL, EVENTS_TABLE, SNAPSHOTS_TABLE


def test_names_are_the_ones_the_librarys_recorders_use(store: EventStoreApp) -> None:
    recorder = store.recorder
    assert recorder.events_table_name == EVENTS_TABLE  # type: ignore[attr-defined]
    assert recorder.channel_name == EVENTS_CHANNEL  # type: ignore[attr-defined]
    assert store.snapshots is not None
    snapshots = store.snapshots.recorder
    assert snapshots.events_table_name == SNAPSHOTS_TABLE  # type: ignore[attr-defined]
