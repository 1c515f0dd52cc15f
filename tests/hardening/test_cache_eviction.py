"""Issue 11, finding 0: a working set larger than the aggregate cache never answers 500.

An entry evicted by another request while a read awaited the database made the cache raise
KeyError (500). And an operator could not find it: the log line named only `KeyError`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random

from service.observability.logs import JsonFormatter
from tests.support.http import Caller, credential_path


async def test_many_aggregates_through_a_small_cache_never_answer_500(make_api, tokens):
    async with make_api(cache_size=8) as api:
        caller = Caller(api, tokens.admin())
        users = [
            (await caller.user_with_credential("acme", policyExtId="tsp-busy"))[0]
            for _ in range(48)
        ]
        statuses: list[int] = []

        async def reset(user: str) -> None:
            response, _ = await caller.request("POST", credential_path("acme", user) + "/reset")
            statuses.append(response.status)

        rng = random.Random(11)
        for _ in range(6):  # waves of 64 concurrent resets over 48 credentials, cache of 8
            await asyncio.gather(*(reset(rng.choice(users)) for _ in range(64)))
        assert 500 not in statuses, statuses
        assert statuses.count(200) >= len(statuses) * 0.9, statuses


def test_an_error_log_names_the_exception_and_where_it_was_raised_never_its_text():
    def evict(cache: dict[str, int]) -> None:
        cache.pop("tsp-secret-key-material")

    try:
        evict({})
    except KeyError:
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "unhandled error", (), None)
        import sys

        record.exc_info = sys.exc_info()
    entry = json.loads(JsonFormatter().format(record))
    assert entry["exception"] == "KeyError"
    assert entry["where"].startswith("tests/hardening/test_cache_eviction.py:")
    assert entry["where"].endswith("in evict")
    assert any("in test_an_error_log" in frame for frame in entry["stack"])
    assert "tsp-secret-key-material" not in json.dumps(entry)
