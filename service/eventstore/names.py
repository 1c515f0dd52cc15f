"""The names of the event store's tables and notification channel, in one place.

They are the eventsourcing library's: its PostgreSQL factory names an application's tables
`<application name>_events` and `_snapshots`, and its application recorder NOTIFYs a channel of
the events table's name (dots replaced). `tests/integration/test_eventstore_names.py` checks them
against the recorder the library builds, so a library that names them otherwise fails a test
instead of splitting readers from writers.
"""

from __future__ import annotations

APPLICATION_NAME = "tempstrong"
EVENTS_TABLE = f"{APPLICATION_NAME}_events"
SNAPSHOTS_TABLE = f"{APPLICATION_NAME}_snapshots"
EVENTS_CHANNEL = EVENTS_TABLE.replace(".", "_")
