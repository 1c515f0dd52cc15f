"""Questions other processes ask of the event store's table (the delivery worker's supersession
check), asked here so that the table's layout stays this package's business."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from uuid import UUID

import asyncpg

from .names import EVENTS_TABLE

# A LATERAL lookup per asked pair: an index scan whatever the table's statistics were when the
# connection cached the plan (as EXISTS, a plan made while the table was small hash-joined a
# scan of the whole table).
_LATER = f"""
SELECT asked.originator_id, asked.version
FROM unnest($1::uuid[], $2::bigint[]) AS asked(originator_id, version)
CROSS JOIN LATERAL (
    SELECT 1 FROM {EVENTS_TABLE} stored
    WHERE stored.originator_id = asked.originator_id
      AND stored.originator_version > asked.version
      AND stored.topic = ANY($3::text[])
    LIMIT 1
) AS later
"""  # noqa: S608 - the table's name is a constant; the values are bind parameters


async def with_later_events(
    executor: asyncpg.Pool | asyncpg.Connection,
    versions: Sequence[tuple[UUID, int]],
    topics: Collection[str],
) -> set[tuple[UUID, int]]:
    """Which of the (aggregate, version) pairs have a later event of one of `topics`: one
    indexed query for all of them (the primary key starts with the aggregate id)."""
    if not versions:
        return set()
    rows = await executor.fetch(
        _LATER, [v[0] for v in versions], [v[1] for v in versions], list(topics)
    )
    return {(UUID(bytes=row[0].bytes), row[1]) for row in rows}
