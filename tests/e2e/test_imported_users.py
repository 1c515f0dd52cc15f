"""Imported users are ordinary users: with the production processes running (api, projector,
publisher, delivery), people brought in by `tempstrong import` verify with the password the old
system knew, are reset with the fragment mailed to the imported address, are listed, and are
deleted and erased like people the API registered."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path
from uuid import UUID

import asyncpg

from service.domain.password import PasswordHasher
from service.domain.policy import HashAlgorithm
from service.domain.user import User
from tests.support.process import run
from tests.support.stack import eventually, running_stack

CODE_LINE = re.compile(r"^Code: (\S+)\r?$", re.MULTILINE)
ADMIN = [
    "AccessControl.UserView",
    "AccessControl.UserDelete",
    "AccessControl.CredentialView",
    "AccessControl.CredentialModify",
    "AccessControl.CredentialVerify",
]
OLD_PASSWORD = "the-password-the-old-system-issued"


async def test_imported_people_verify_reset_list_and_are_erased_like_registered_ones(
    tmp_path: Path,
) -> None:
    async with running_stack(tmp_path, projector=True) as stack:
        hasher = PasswordHasher(stack.env["TEMPSTRONG_HASH_KEY"].encode())
        ann_hash = hasher.hash(OLD_PASSWORD, HashAlgorithm.SSHA256)
        people = [
            {
                "extId": "imported-ann",
                "loginId": "ann",
                "email": "ann@corp.local",
                "language": "de",
                "tempStrongPassword": {
                    "extId": "tsp-ann",
                    "stateName": "active",
                    "resetCount": 1,
                    "successfulLoginCount": 12,
                    "lastSuccessfulLoginDate": "2026-11-30T07:00:00Z",
                    "hash": ann_hash,
                },
            },
            {
                "extId": "imported-ben",
                "email": "ben@corp.local",
                "tempStrongPassword": {
                    "policyExtId": "tsp-hmac",
                    "hash": hasher.hash(OLD_PASSWORD, HashAlgorithm.HMAC_SHA256),
                },
            },
            {"extId": "imported-cat", "mobile": "+41790000003"},  # a user without a credential
        ]
        file = tmp_path / "people.jsonl"
        file.write_text("".join(json.dumps(person) + "\n" for person in people))
        imported = run(["import", "--client", "acme", str(file)], stack.env, tmp_path)
        assert imported.returncode == 0, imported.stderr
        assert "3 user(s) imported" in imported.stdout

        token = run(
            ["token", "--keys", "k", "--client", "acme", "--permissions", *ADMIN], {}, tmp_path
        ).stdout.strip()
        session, base = stack.session, stack.base
        headers = {"X-Token": token}
        ann = f"{base}/users/imported-ann/tempstrong-password"

        # read back exactly as imported
        async with session.get(f"{base}/users/imported-ann", headers=headers) as r:
            assert r.status == 200
            user = await r.json()
            assert (user["loginId"], user["email"], user["language"]) == (
                "ann",
                "ann@corp.local",
                "de",
            )
        async with session.get(ann, headers=headers) as r:
            credential = await r.json()
        assert credential["extId"] == "tsp-ann" and credential["stateName"] == "active"
        assert (credential["resetCount"], credential["successfulLoginCount"]) == (1, 12)
        assert credential["lastSuccessfulLoginDate"].startswith("2026-11-30T07:00:00")
        assert credential["tempStrongPassword"] == ann_hash  # GET shows the stored hash

        # the old system's password verifies, under either hash scheme
        for who in ("imported-ann", "imported-ben"):
            async with session.post(
                f"{base}/users/{who}/tempstrong-password/verify",
                json={"password": OLD_PASSWORD},
                headers=headers,
            ) as r:
                assert r.status == 200, (who, await r.text())

        # a reset goes out of band to the imported address; the old password stops working
        async with session.post(f"{ann}/reset", headers=headers) as r:
            assert r.status == 200
            fragment0 = (await r.json())["tempStrongPassword"]
        mails = await eventually(lambda: stack.smtp.to("ann@corp.local"))
        fragment1 = CODE_LINE.findall(mails[-1].text)[0]
        for password, status in ((OLD_PASSWORD, 401), (fragment0 + fragment1, 200)):
            async with session.post(
                f"{ann}/verify", json={"password": password}, headers=headers
            ) as r:
                assert r.status == status
        async with session.get(ann, headers=headers) as r:
            assert (await r.json())["resetCount"] == 2

        # the read model lists them, as it lists everyone
        async def listed() -> set[str]:
            async with session.get(f"{base}/tempstrong-passwords", headers=headers) as r:
                return {item["userExtId"] for item in (await r.json())["items"]}

        await eventually_async(listed, {"imported-ann", "imported-ben"})

        # deleted like anyone: gone at once, and the person's key with it
        async with session.delete(f"{base}/users/imported-ben", headers=headers) as r:
            assert r.status == 204
        async with session.get(f"{base}/users/imported-ben", headers=headers) as r:
            assert r.status == 404
        erased = run(["erase", "--client", "acme", "--user", "imported-cat"], stack.env, tmp_path)
        assert erased.returncode == 0 and "erased" in erased.stdout, erased.stderr
        async with session.get(f"{base}/users/imported-cat", headers=headers) as r:
            assert r.status == 404
        connection = await asyncpg.connect(stack.database_url)
        try:
            subjects = {
                UUID(bytes=row[0].bytes)
                for row in await connection.fetch("SELECT subject_id FROM personal_data_keys")
            }
        finally:
            await connection.close()
        assert subjects == {User.create_id("acme", "imported-ann")}  # the others' keys are gone


async def eventually_async(probe, expected: set[str], timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    seen: set[str] = set()
    while asyncio.get_running_loop().time() < deadline:
        seen = await probe()
        if expected <= seen:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"listed {seen}, expected {expected}")
