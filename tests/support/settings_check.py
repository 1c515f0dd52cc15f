"""What a deployment (the Kubernetes manifests, the compose file) must set for each process, read
from the code: `VARIABLES` of service/config.py (each variable's name and the processes that read
it), and the `settings.require(PROCESS, ...)` calls of the composition roots in service/roots/,
read from their source with the module-level tuples they unpack (`REQUIRED`). `OTEL_*` variables
are read by the OpenTelemetry SDK: allowed where the SDK names them, in the processes that export
traces (`TRACED`).
"""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

from service import config

REPO = Path(__file__).resolve().parents[2]
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
