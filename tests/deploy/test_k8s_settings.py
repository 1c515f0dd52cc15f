"""Every environment variable the rendered manifests set (every overlay) is one the code reads,
in the process that reads it, and every setting a process requires is set for that process.

Both sides come from the code, so that a new variable or a new requirement is checked without an
edit here: `VARIABLES` of service/config.py (each variable's name and the processes that read
it), and the `settings.require(PROCESS, ...)` calls of the composition roots in service/roots/,
read from their source together with the module-level tuples they unpack (`REQUIRED`).
`OTEL_*` variables are read by the OpenTelemetry SDK: allowed where the SDK names them, and only
in the processes that export traces (`TRACED`).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.kubernetes import OVERLAYS, overlay_path, pod_templates, render
from tests.support.settings_check import (
    Unreadable,
    problems_of,
    required_by_source,
    required_settings,
)


def containers(overlay: str) -> Iterator[tuple[str, str, set[str]]]:
    """(where, process, names of the variables set) of every container of every workload."""
    for workload, template in pod_templates(render(overlay_path(overlay))):
        spec = template["spec"]
        for container in spec["containers"] + spec.get("initContainers", []):
            assert "envFrom" not in container, f"{workload}: list each variable, no envFrom"
            names = {entry["name"] for entry in container.get("env", [])}
            yield f"{workload} ({container['name']})", container["args"][0], names


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_variable_set_is_read_and_every_required_one_is_set(overlay: str) -> None:
    problems = [p for c in containers(overlay) for p in problems_of(*c)]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_workload_runs_a_process_with_requirements(overlay: str) -> None:
    """The manifests' processes all have a root whose requirements this check reads: a process
    the reading misses would pass the test above unchecked."""
    processes = {process for _, process, _ in containers(overlay)}
    assert processes == {"api", "projector", "publisher", "delivery", "migrate"}
    assert processes <= set(required_settings()), sorted(processes - set(required_settings()))


# ------------------------------------------------------------------ the check itself can fail


def test_a_misnamed_variable_is_caught() -> None:
    names = {"TEMPSTRONG_DATABASE_URL", "TEMPSTRONG_METRIC_PORT"}
    assert problems_of("Deployment/x (projector)", "projector", names) == [
        "Deployment/x (projector): TEMPSTRONG_METRIC_PORT is read by no process (not in VARIABLES)"
    ]


def test_a_variable_for_another_process_is_caught() -> None:
    names = {"TEMPSTRONG_DATABASE_URL", "TEMPSTRONG_HASH_KEY"}
    assert problems_of("Deployment/x (projector)", "projector", names) == [
        "Deployment/x (projector): TEMPSTRONG_HASH_KEY is not read by `projector`"
    ]


def test_a_missing_requirement_is_caught() -> None:
    problems = problems_of("Job/x (migrate)", "migrate", {"TEMPSTRONG_AMQP_URL"})
    assert problems == [
        "Job/x (migrate): `migrate` requires TEMPSTRONG_DATABASE_URL, which is not set"
    ]


def test_otel_variables_only_where_traces_are_exported() -> None:
    assert problems_of("D (api)", "api", required_settings()["api"] | {"OTEL_SERVICE_NAME"}) == []
    assert problems_of("D (projector)", "projector", {"TEMPSTRONG_DATABASE_URL", "OTEL_X"}) == [
        "D (projector): OTEL_X is no variable of the OpenTelemetry SDK"
    ]
    assert problems_of(
        "D (projector)", "projector", {"TEMPSTRONG_DATABASE_URL", "OTEL_SERVICE_NAME"}
    ) == ["D (projector): OTEL_SERVICE_NAME, but `projector` exports no traces"]


def test_requirements_are_read_from_calls_and_the_tuples_they_unpack() -> None:
    source = (
        "from ..config import API\n"
        "REQUIRED = ('database_url', 'jwks')\n"
        "def run(settings):\n"
        "    settings.require(API, *REQUIRED)\n"
        "    settings.require('migrate', 'database_url', 'amqp_url')\n"
    )
    assert required_by_source(source, "x.py") == {
        "api": {"database_url", "jwks"},
        "migrate": {"database_url", "amqp_url"},
    }


@pytest.mark.parametrize(
    "call",
    ["settings.require(process_name, 'a')", "settings.require(API, *others())"],
)
def test_a_require_call_it_cannot_read_fails_loudly(call: str) -> None:
    with pytest.raises(Unreadable):
        required_by_source(f"def run(settings):\n    {call}\n", "x.py")


def test_the_roots_requirements_match_what_the_processes_refuse_without() -> None:
    """Spot check against the processes' own behaviour."""
    required = required_settings()
    assert "TEMPSTRONG_DATABASE_URL" in required["projector"]
    assert {"TEMPSTRONG_AMQP_URL", "TEMPSTRONG_DELIVERY_PRIVATE_KEY"} <= required["delivery"]
    assert "TEMPSTRONG_JWKS" in required["api"]
