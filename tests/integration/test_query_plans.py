"""The hot lookups keep to their indexes under a plan cached while the tables were empty.

asyncpg prepares every statement, and PostgreSQL keeps a generic plan per connection once it
stops planning each execution. A plan made on an empty table that joins by hashing a scan of it
stays, as the table grows, until the next ANALYZE: in the bench, each aggregate read then read
the whole events table (the API fell to a fifth of its rate). Each statement here is planned
generic on empty tables, the table is filled, and the kept plan must not scan it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import asyncpg
import pytest

from projections.credentials.postgres import load_sql
from service.delivery.dedup import _CLAIM
from service.eventstore.application import event_mapper
from service.eventstore.names import EVENTS_TABLE
from service.eventstore.postgres import PostgresStore
from service.eventstore.queries import _LATER
from tests.support.database import create_database, drop_database, url_for
from tests.support.process import run

ROWS = 20_000
ID = "00000000-0000-0000-0000-000000000005"
FILL_EVENTS = f"""
INSERT INTO {EVENTS_TABLE} (originator_id, originator_version, topic, state)
SELECT ('00000000-0000-0000-0000-' || lpad(to_hex(i / 3), 12, '0'))::uuid, i % 3 + 1, 'topic',
       convert_to(repeat('x', 500), 'UTF8')
FROM generate_series(0, {ROWS - 1}) AS i
"""
FILL_CREDENTIALS = f"""
INSERT INTO credentials
SELECT ('00000000-0000-0000-0000-' || lpad(to_hex(i), 12, '0'))::uuid, 'acme', 'u' || i,
       'c' || i, 'tsp-default', 'initial', NULL, NULL, 0, 0, 1, now(), '\\x00'
FROM generate_series(1, {ROWS}) AS i
"""
FILL_DEDUP = f"""
INSERT INTO delivery_dedup (message_id) SELECT 'm' || i FROM generate_series(1, {ROWS}) AS i
"""
STATEMENTS = {
    "aggregate reads": (
        PostgresStore("postgresql://unused", event_mapper())._reconstruct_sql,
        "uuid[], bigint[]",
        f"ARRAY['{ID}']::uuid[], ARRAY[{2**62}]::bigint[]",
        FILL_EVENTS,
        EVENTS_TABLE,
    ),
    "supersession": (
        _LATER,
        "uuid[], bigint[], text[]",
        f"ARRAY['{ID}']::uuid[], ARRAY[1]::bigint[], ARRAY['topic']",
        FILL_EVENTS,
        EVENTS_TABLE,
    ),
    "delivery claims": (
        _CLAIM,
        "text[], uuid, float8",
        "ARRAY['m5', 'absent'], '00000000-0000-0000-0000-000000000001', 15",
        FILL_DEDUP,
        "delivery_dedup",
    ),
    "read model loads": (
        load_sql("credentials"),
        "uuid[]",
        f"ARRAY['{ID}']::uuid[]",
        FILL_CREDENTIALS,
        "credentials",
    ),
}


@pytest.fixture
async def database(tmp_path) -> Any:
    name = await create_database("tempstrong_plans")
    try:
        migrated = run(["migrate"], {"TEMPSTRONG_DATABASE_URL": url_for(name)}, tmp_path)
        assert migrated.returncode == 0, migrated.stderr
        yield url_for(name)
    finally:
        await drop_database(name)


def _nodes(plan: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield plan
    for child in plan.get("Plans", ()):
        yield from _nodes(child)


@pytest.mark.parametrize("name", sorted(STATEMENTS))
async def test_a_plan_cached_on_empty_tables_does_not_scan_them_once_full(database, name):
    sql, types, arguments, fill, table = STATEMENTS[name]
    connection = await asyncpg.connect(database)
    try:
        await connection.execute("SET plan_cache_mode = force_generic_plan")
        await connection.execute(f"PREPARE probe({types}) AS {sql}")
        await connection.execute(f"EXECUTE probe({arguments})")  # the plan is made and kept
        await connection.execute(fill)
        explained = await connection.fetchval(f"EXPLAIN (FORMAT JSON) EXECUTE probe({arguments})")
    finally:
        await connection.close()
    plan = json.loads(explained)[0]["Plan"]
    scans = [
        node["Node Type"]
        for node in _nodes(plan)
        if node.get("Relation Name") == table and "Index" not in node["Node Type"]
    ]
    assert scans == [], f"{name}: {table} read by {scans}"
