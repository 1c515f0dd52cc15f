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

import ast
from collections.abc import Iterator
from functools import cache

import pytest

from service import config
from tests.support.kubernetes import OVERLAYS, REPO, overlay_path, pod_templates, render

ROOTS = REPO / "service" / "roots"
BY_NAME = {variable.name: variable for variable in config.VARIABLES}
BY_FIELD = {variable.field: variable for variable in config.VARIABLES}
PROCESSES = frozenset().union(*(variable.processes for variable in config.VARIABLES))


@cache
def otel_variables() -> frozenset[str]:
    """The variables the OpenTelemetry API and SDK name (their environment_variables modules)."""
    from opentelemetry import environment_variables as api
    from opentelemetry.sdk import environment_variables as sdk

    return frozenset(
        value
        for module in (api, sdk)
        for key, value in vars(module).items()
        if key.isupper() and isinstance(value, str) and value.startswith("OTEL_")
    )


class Unreadable(Exception):
    """A `require` call whose arguments this check cannot resolve statically."""


def _module_tuples(tree: ast.Module) -> dict[str, tuple[str, ...]]:
    """NAME -> the strings of every module-level `NAME = ("a", "b", ...)`."""
    found = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Tuple | ast.List):
            items = [e.value for e in node.value.elts if isinstance(e, ast.Constant)]
            if len(items) == len(node.value.elts) and all(isinstance(i, str) for i in items):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        found[target.id] = tuple(items)
    return found


def _process(argument: ast.expr, where: str) -> str:
    if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
        return argument.value
    if isinstance(argument, ast.Name) and isinstance(getattr(config, argument.id, None), str):
        return str(getattr(config, argument.id))
    raise Unreadable(f"{where}: the process of a require() call is not a constant")


def _fields(arguments: list[ast.expr], tuples: dict[str, tuple[str, ...]], where: str) -> set[str]:
    fields: set[str] = set()
    for argument in arguments:
        if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
            fields.add(argument.value)
        elif isinstance(argument, ast.Starred) and isinstance(argument.value, ast.Name):
            if argument.value.id not in tuples:
                raise Unreadable(f"{where}: *{argument.value.id} is no module-level tuple")
            fields.update(tuples[argument.value.id])
        else:
            raise Unreadable(f"{where}: a require() argument is neither a string nor *TUPLE")
    return fields


def required_by_source(source: str, where: str) -> dict[str, set[str]]:
    """process -> the Settings fields its `.require(PROCESS, ...)` calls in `source` demand."""
    tree = ast.parse(source)
    tuples = _module_tuples(tree)
    required: dict[str, set[str]] = {}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "require"
            and node.args
        ):
            at = f"{where}:{node.lineno}"
            process = _process(node.args[0], at)
            required.setdefault(process, set()).update(_fields(node.args[1:], tuples, at))
    return required


@cache
def required_settings() -> dict[str, frozenset[str]]:
    """process -> the variable names it refuses to start without, from service/roots/*.py."""
    required: dict[str, set[str]] = {}
    for path in sorted(ROOTS.glob("*.py")):
        found = required_by_source(path.read_text(encoding="utf-8"), path.name)
        for process, fields in found.items():
            required.setdefault(process, set()).update(fields)
    unknown = {f for fields in required.values() for f in fields} - set(BY_FIELD)
    assert not unknown, f"require() names settings that VARIABLES lacks: {sorted(unknown)}"
    return {p: frozenset(BY_FIELD[f].name for f in fields) for p, fields in required.items()}


def containers(overlay: str) -> Iterator[tuple[str, str, set[str]]]:
    """(where, process, names of the variables set) of every container of every workload."""
    for workload, template in pod_templates(render(overlay_path(overlay))):
        spec = template["spec"]
        for container in spec["containers"] + spec.get("initContainers", []):
            assert "envFrom" not in container, f"{workload}: list each variable, no envFrom"
            names = {entry["name"] for entry in container.get("env", [])}
            yield f"{workload} ({container['name']})", container["args"][0], names


def problems_of(where: str, process: str, names: set[str]) -> list[str]:
    if process not in PROCESSES:
        return [f"{where}: runs `tempstrong {process}`, which no variable of VARIABLES names"]
    problems = []
    for name in sorted(names):
        if name.startswith("OTEL_"):
            if name not in otel_variables():
                problems.append(f"{where}: {name} is no variable of the OpenTelemetry SDK")
            elif process not in config.TRACED:
                problems.append(f"{where}: {name}, but `{process}` exports no traces")
        elif name not in BY_NAME:
            problems.append(f"{where}: {name} is read by no process (not in VARIABLES)")
        elif process not in BY_NAME[name].processes:
            problems.append(f"{where}: {name} is not read by `{process}`")
    missing = required_settings().get(process, frozenset()) - names
    problems.extend(f"{where}: `{process}` requires {name}, which is not set" for name in missing)
    return problems


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
    """Spot check against the processes' own behaviour (SPEC section 7)."""
    required = required_settings()
    assert "TEMPSTRONG_DATABASE_URL" in required["projector"]
    assert {"TEMPSTRONG_AMQP_URL", "TEMPSTRONG_DELIVERY_PRIVATE_KEY"} <= required["delivery"]
    assert "TEMPSTRONG_JWKS" in required["api"]
