"""Schemathesis against the served /openapi.json: every operation, fixed seed, bounded examples.

Checks: no 5xx, the response conforms to the documented schema, its status code is documented,
its content type is the documented one. Each operation runs three ways: valid requests on the
seeded `acme/fuzz-user` (so stateful paths get 2xx), valid requests with generated path
parameters, and schema-violating (negative) requests; and once without a token (401 on every API
operation). Schemathesis is synchronous (requests), so it runs in a worker thread while the
event loop serves the API.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings

from service.http.app import create_app
from tests.support.http import BASE, Caller, user_path

# A test dependency (pip install "schemathesis>=4.32,<5", which brings requests): without it this
# suite is reported as skipped rather than breaking collection.
schemathesis = pytest.importorskip("schemathesis", reason="needs schemathesis>=4.32,<5")
requests = pytest.importorskip("requests")
GenerationMode = schemathesis.GenerationMode
NOT_SET = schemathesis.core.NOT_SET

EXAMPLES_PER_OPERATION = 25
CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.response_schema_conformance,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
]
FUZZ_CLIENT, FUZZ_USER = "acme", "fuzz-user"
_CREDENTIAL = "/{clientExtId}/users/{userExtId}/tempstrong-password"
# destructive operations run last, so the others see the seeded credential
_ORDER = {"GET": 0, "POST": 1, "PATCH": 2, "DELETE": 3}


def _settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.explicit, Phase.generate],  # no shrinking: a failure is reported as found
        suppress_health_check=list(HealthCheck),
    )


class Run:
    """Drives one operation through schemathesis (in a worker thread)."""

    def __init__(self, base: str, token: str) -> None:
        self.base = base
        self.token = token
        self.session = requests.Session()
        self.statuses: Counter[tuple[str, int]] = Counter()

    def fuzz(self, operation: Any, mode: GenerationMode, fixed: dict[str, str] | None) -> None:
        label = operation.label

        @_settings(EXAMPLES_PER_OPERATION)
        @given(case=operation.as_strategy(generation_mode=mode, path_parameters=fixed))
        def run(case: Any) -> None:
            response = case.call(
                base_url=self.base,
                session=self.session,
                headers={"X-Token": self.token},
                timeout=15,
            )
            self.statuses[(label, response.status_code)] += 1
            case.validate_response(response, checks=CHECKS, headers={"X-Token": self.token})

        run()

    def known_good(self, operation: Any, fixed: dict[str, str], body: Any, token: bool) -> int:
        """One hand-made request that can succeed (or, without a token, must be 401)."""
        case = operation.Case(path_parameters=fixed, body=body)
        headers = {"X-Token": self.token} if token else {}
        response = case.call(base_url=self.base, session=self.session, headers=headers, timeout=15)
        self.statuses[(operation.label, response.status_code)] += 1
        case.validate_response(response, checks=CHECKS, headers=headers)
        return int(response.status_code)


def _fixed(operation: Any) -> dict[str, str]:
    names = {p.name for p in operation.path_parameters}
    values = {"clientExtId": FUZZ_CLIENT, "userExtId": FUZZ_USER}
    return {k: v for k, v in values.items() if k in names}


async def _seed(admin: Caller, operation: Any) -> Any:
    """acme/fuzz-user as the operation needs it; returns a request body that can succeed."""
    await admin.request("DELETE", user_path(FUZZ_CLIENT, FUZZ_USER))
    key = (operation.method.upper(), operation.path.removeprefix(BASE))
    if key == ("POST", "/{clientExtId}/users"):
        return {"extId": FUZZ_USER, "email": "fuzz@example.com", "language": "de"}
    await admin.create_user(FUZZ_CLIENT, FUZZ_USER)
    if key == ("POST", _CREDENTIAL):
        return {"extId": "fuzz-credential", "policyExtId": "tsp-hmac"}
    # tsp-none: the response carries the whole password, so a verification can succeed
    status, created = await admin.create_credential(FUZZ_CLIENT, FUZZ_USER, policyExtId="tsp-none")
    assert status == 201, created
    return {
        ("PATCH", _CREDENTIAL): {"version": 1, "stateName": "active", "modificationComment": "x"},
        ("POST", _CREDENTIAL + "/verify"): {"password": created["tempStrongPassword"]},
    }.get(key, NOT_SET)


async def test_every_operation_conforms_to_the_openapi_document(api, tokens):
    admin = Caller(api, tokens.admin())
    async with api.session.get(api.url("/openapi.json")) as response:
        document = await response.json()
    schema = schemathesis.openapi.from_dict(document)
    # every registered route (the document may name one ahead of its route: /asyncapi.json)
    registered = {
        (route.method, route.resource.canonical)
        for route in create_app(api.context).router.routes()
        if route.method != "HEAD" and route.resource is not None
    }
    operations = sorted(
        (
            op
            for op in (result.ok() for result in schema.get_all_operations())
            if (op.method.upper(), op.path) in registered
        ),
        key=lambda op: (_ORDER[op.method.upper()], op.path),
    )
    assert {(op.method.upper(), op.path) for op in operations} == registered
    run = Run(api.base, tokens.admin())
    refused_without_token: dict[str, int] = {}
    try:
        for operation in operations:
            fixed = _fixed(operation)
            body = await _seed(admin, operation)
            status = await asyncio.to_thread(run.known_good, operation, fixed, body, False)
            refused_without_token[operation.label] = status
            assert (
                200 <= await asyncio.to_thread(run.known_good, operation, fixed, body, True) < 300
            )
            await _seed(admin, operation)
            await asyncio.to_thread(run.fuzz, operation, GenerationMode.POSITIVE, fixed)
            await _seed(admin, operation)
            await asyncio.to_thread(run.fuzz, operation, GenerationMode.POSITIVE, None)
            if operation.path_parameters or operation.body:  # something to get wrong
                await asyncio.to_thread(run.fuzz, operation, GenerationMode.NEGATIVE, None)
    finally:
        run.session.close()
    # every API operation refuses an anonymous caller; the system endpoints need no token
    for label, status in refused_without_token.items():
        expected = 401 if BASE in label else 200
        assert status == expected, (label, status)
    total = sum(run.statuses.values())
    successes = {label for (label, status), n in run.statuses.items() if 200 <= status < 300}
    print(f"\nschemathesis: {total} cases over {len(operations)} operations")
    for (label, status), n in sorted(run.statuses.items()):
        print(f"  {label} -> {status}: {n}")
    # the seeded credential let every operation succeed at least once
    assert successes == {op.label for op in operations}, sorted(
        {op.label for op in operations} - successes
    )
