"""The floor: an aiohttp app whose one POST handler commits one INSERT through an asyncpg pool.

It is what the reset endpoint is compared with: the same HTTP stack and the same database, with
the least possible work per request. Run by bench/run.py as a child process:

    python bench/floor.py --database-url postgresql://... --port 8099 [--pool-size 16]
"""

from __future__ import annotations

import argparse
import json

import asyncpg
from aiohttp import web

DDL = """CREATE TABLE IF NOT EXISTS floor (
    id bigserial PRIMARY KEY,
    user_id text NOT NULL,
    at timestamptz NOT NULL DEFAULT now(),
    payload jsonb
)"""
INSERT = "INSERT INTO floor (user_id, payload) VALUES ($1, $2::jsonb) RETURNING id, at"
PAYLOAD = json.dumps({"type": "TempStrongPasswordReset", "stateName": "initial"})


def create_app(database_url: str, pool_size: int) -> web.Application:
    app = web.Application()

    async def open_pool(app: web.Application) -> None:
        pool = await asyncpg.create_pool(
            database_url, min_size=pool_size, max_size=pool_size, timeout=10
        )
        async with pool.acquire() as connection, connection.transaction():
            # several floors (--processes) start together: one creates the table
            await connection.execute("SELECT pg_advisory_xact_lock(7453002)")
            await connection.execute(DDL)
        app["pool"] = pool

    async def close_pool(app: web.Application) -> None:
        await app["pool"].close()

    async def insert(request: web.Request) -> web.Response:
        user = request.match_info["user"]
        row = await request.app["pool"].fetchrow(INSERT, user, PAYLOAD)  # autocommit: 1 txn
        return web.json_response({"id": row["id"], "at": row["at"].isoformat()})

    async def readyz(request: web.Request) -> web.Response:
        await request.app["pool"].fetchval("SELECT 1")
        return web.json_response({"status": "ok"})

    app.on_startup.append(open_pool)
    app.on_cleanup.append(close_pool)
    app.router.add_post("/floor/{user}", insert)
    app.router.add_get("/readyz", readyz)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--pool-size", type=int, default=16)
    parser.add_argument("--reuse-port", action="store_true", help="several floors on one port")
    args = parser.parse_args()
    web.run_app(
        create_app(args.database_url, args.pool_size),
        host=args.host,
        port=args.port,
        access_log=None,
        reuse_port=args.reuse_port,
        print=None,
        shutdown_timeout=5,
    )


if __name__ == "__main__":
    main()
