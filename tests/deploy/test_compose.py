"""Structure of deploy/compose.yaml and deploy/Dockerfile (read as text: no Docker needed)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.settings_check import problems_of

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
APP_SERVICES = ("api", "projector", "publisher", "delivery")
METRICS_PORTS = {"projector": "9101", "publisher": "9102", "delivery": "9103"}
AMQP_URL = "amqp://guest:guest@rabbitmq:5672/"

# The variables each env file under deploy/dev-secrets/ holds (written by `tempstrong keys`).
ENV_FILES = {
    "dev-secrets/hash-key.env": {"TEMPSTRONG_HASH_KEY"},
    "dev-secrets/delivery-public.env": {"TEMPSTRONG_DELIVERY_PUBLIC_KEY"},
    "dev-secrets/delivery-private.env": {"TEMPSTRONG_DELIVERY_PRIVATE_KEY"},
    "dev-secrets/personal-data-keys.env": {"TEMPSTRONG_PERSONAL_DATA_KEYS"},
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    document = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(document, dict)
    return document


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(compose["services"])


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {str(k): str(v) for k, v in env.items()}


def env_files(service: dict[str, Any]) -> list[str]:
    files = service.get("env_file") or []
    files = [files] if isinstance(files, str) else files
    return [f if isinstance(f, str) else f["path"] for f in files]


def variables(service: dict[str, Any]) -> set[str]:
    names = set(environment(service))
    for path in env_files(service):
        assert path in ENV_FILES, f"unexpected env_file {path}"
        names |= ENV_FILES[path]
    return names


def test_services_present(services: dict[str, dict[str, Any]]) -> None:
    expected = {"postgres", "rabbitmq", "mailpit", "migrate", *APP_SERVICES}
    assert expected <= set(services), sorted(expected - set(services))


def test_backing_services(services: dict[str, dict[str, Any]]) -> None:
    assert services["postgres"]["image"] == "postgres:15"
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])
    assert services["rabbitmq"]["image"] == "rabbitmq:3.13-management"
    assert services["rabbitmq"]["healthcheck"]["test"][-3:] == [
        "rabbitmq-diagnostics",
        "-q",
        "ping",
    ]
    assert services["mailpit"]["image"].startswith("axllent/mailpit")


def test_app_services_share_one_image_built_from_the_dockerfile(
    services: dict[str, dict[str, Any]],
) -> None:
    images = set()
    for name in ("migrate", *APP_SERVICES):
        service = services[name]
        build = service["build"]
        assert build["context"] == "..", name
        assert build["dockerfile"] == "deploy/Dockerfile", name
        assert (DEPLOY / build["context"] / build["dockerfile"]).resolve() == (
            DEPLOY / "Dockerfile"
        ).resolve()
        images.add(service.get("image"))
        assert service["command"] == [name], name
        assert str(service.get("user", "")).split(":")[0] == "10001", name
        assert service.get("read_only") is True, name
    assert len(images) == 1, images


def test_required_environment_per_process(services: dict[str, dict[str, Any]]) -> None:
    """Every variable a service sets is one its process reads, and every one it requires is set
    (both read from the code: tests/support/settings_check.py)."""
    problems = [
        problem
        for name in ("migrate", *APP_SERVICES)
        for problem in problems_of(name, services[name]["command"][0], variables(services[name]))
    ]
    assert not problems, "\n".join(problems)
    for name in ("migrate", *APP_SERVICES):
        env = environment(services[name])
        assert env["TEMPSTRONG_DATABASE_URL"].startswith("postgresql://"), name
        if "TEMPSTRONG_AMQP_URL" in env:
            assert env["TEMPSTRONG_AMQP_URL"] == AMQP_URL, name
        if name in METRICS_PORTS:
            assert env["TEMPSTRONG_METRICS_PORT"] == METRICS_PORTS[name], name
        else:
            assert "TEMPSTRONG_METRICS_PORT" not in env, name
    api = environment(services["api"])
    assert (api["TEMPSTRONG_HTTP_HOST"], api["TEMPSTRONG_HTTP_PORT"]) == ("0.0.0.0", "8080")
    assert environment(services["delivery"])["TEMPSTRONG_SMTP_URL"] == "smtp://mailpit:1025"


def test_delivery_keys_where_they_belong(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        names = variables(service)
        assert ("TEMPSTRONG_DELIVERY_PRIVATE_KEY" in names) == (name == "delivery"), name
        assert ("TEMPSTRONG_DELIVERY_PUBLIC_KEY" in names) == (name == "api"), name
        assert ("TEMPSTRONG_HASH_KEY" in names) == (name == "api"), name


def test_no_key_material_in_the_compose_file(services: dict[str, dict[str, Any]]) -> None:
    for name, service in services.items():
        for key in (
            "TEMPSTRONG_HASH_KEY",
            "TEMPSTRONG_DELIVERY_PUBLIC_KEY",
            "TEMPSTRONG_DELIVERY_PRIVATE_KEY",
            "TEMPSTRONG_PERSONAL_DATA_KEYS",
        ):
            assert key not in environment(service), f"{name}: {key} belongs in dev-secrets/"


def test_mounted_files(services: dict[str, dict[str, Any]]) -> None:
    for name in ("api",):
        env = environment(services[name])
        mounts = {}
        for volume in services[name].get("volumes", []):
            source, target, *_ = volume.split(":")
            mounts[target] = source
        assert env["TEMPSTRONG_POLICY_FILE"] in mounts, name
        assert (DEPLOY / mounts[env["TEMPSTRONG_POLICY_FILE"]]).is_file()
    api_mounts = dict(reversed(v.split(":")[:2]) for v in services["api"]["volumes"])
    assert api_mounts[environment(services["api"])["TEMPSTRONG_JWKS"]] == "./dev-secrets/jwks.json"


def test_dev_secrets_are_not_committed() -> None:
    git = shutil.which("git")
    if git is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    probe = "deploy/dev-secrets/delivery-private.env"
    result = subprocess.run(
        [git, "check-ignore", "-q", probe], cwd=REPO, capture_output=True, check=False
    )
    assert result.returncode == 0, "deploy/dev-secrets/ must be gitignored"
    tracked = subprocess.run(
        [git, "ls-files", "deploy/dev-secrets"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    assert tracked.stdout == "", "keys are committed under deploy/dev-secrets/"


def test_startup_order(services: dict[str, dict[str, Any]]) -> None:
    assert services["migrate"]["depends_on"] == {
        "postgres": {"condition": "service_healthy"},
        "rabbitmq": {"condition": "service_healthy"},
    }
    assert services["migrate"].get("restart", "no") == "no"
    for name in APP_SERVICES:
        depends_on = services[name]["depends_on"]
        assert depends_on["migrate"] == {"condition": "service_completed_successfully"}, name


def test_policy_file_sample() -> None:
    document = yaml.safe_load((DEPLOY / "policies.yaml").read_text(encoding="utf-8"))
    assert {"client-123", "acme"} <= set(document["clients"])
    for client, body in document["clients"].items():
        default = (body or {}).get("defaultPolicy")
        assert default is None or default in document["policies"], client
    for name, policy in document["policies"].items():
        assert policy["type"] == "TempStrongPasswordPolicy", name


# ---------------------------------------------------------------------------------- Dockerfile


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    logical, current = [], ""
    for line in text.splitlines():
        stripped = line.strip()
        if not current and (not stripped or stripped.startswith("#")):
            continue
        if stripped.startswith("#"):
            continue
        current += " " + stripped.removesuffix("\\") if current else stripped.removesuffix("\\")
        if not stripped.endswith("\\"):
            logical.append(current.strip())
            current = ""
    result = []
    for instruction in logical:
        keyword, _, rest = instruction.partition(" ")
        result.append((keyword.upper(), rest.strip()))
    return result


def stages() -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for keyword, rest in dockerfile_instructions():
        if keyword == "FROM":
            found.append([])
        if found:
            found[-1].append((keyword, rest))
    return found


def resolve_args(text: str) -> str:
    defaults = {}
    for keyword, rest in dockerfile_instructions():
        if keyword == "FROM":
            break
        if keyword == "ARG" and "=" in rest:
            name, value = rest.split("=", 1)
            defaults[name] = value
    return re.sub(r"\$\{(\w+)\}|\$(\w+)", lambda m: defaults[m.group(1) or m.group(2)], text)


def test_dockerfile_is_multi_stage_on_python_slim() -> None:
    all_stages = stages()
    assert len(all_stages) >= 2
    final = all_stages[-1]
    image = resolve_args(final[0][1]).split()[0]
    assert image == "python:3.11-slim"
    copies = [rest for keyword, rest in final if keyword == "COPY"]
    assert any(rest.startswith("--from=") for rest in copies), "the final stage copies a build"
    final_text = " ".join(rest for _, rest in final)
    for tool in ("build-essential", "gcc", "pip wheel", "pip install"):
        assert tool not in final_text, f"final stage must not have {tool!r}"


def test_dockerfile_builder_uses_the_project() -> None:
    builder = stages()[0]
    text = " ".join(rest for _, rest in builder)
    assert "pip wheel" in text or "--prefix" in text
    for keyword, rest in builder:
        if keyword == "COPY" and not rest.startswith("--"):
            *sources, _ = rest.split()
            for source in sources:
                assert (REPO / source).exists(), f"Dockerfile copies {source}, missing in the repo"
    pyproject = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    readme = re.search(r'^readme\s*=\s*"([^"]+)"', pyproject, re.M)
    if readme:
        assert readme.group(1) in text, "the builder must copy the readme that pyproject names"


def test_dockerfile_runtime_settings() -> None:
    final = stages()[-1]
    users = [rest for keyword, rest in final if keyword == "USER"]
    assert users, "the final stage needs a USER"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0") and user == "10001"
    entrypoint = [rest for keyword, rest in final if keyword == "ENTRYPOINT"]
    cmd = [rest for keyword, rest in final if keyword == "CMD"]
    assert json.loads(entrypoint[-1]) == ["tempstrong"]
    assert json.loads(cmd[-1]) == ["api"]
    env = " ".join(rest for keyword, rest in final if keyword == "ENV")
    assert re.search(r"\bTEMPSTRONG_HTTP_HOST=0\.0\.0\.0\b", env)


def healthcheck_command() -> list[str]:
    """The JSON command of the final stage's one HEALTHCHECK."""
    checks = [rest for keyword, rest in stages()[-1] if keyword == "HEALTHCHECK"]
    assert len(checks) == 1, "the final stage needs exactly one HEALTHCHECK"
    options, _, command = checks[0].partition("CMD ")
    assert "--interval=" in options and "--timeout=" in options
    return list(json.loads(command))


def test_dockerfile_healthcheck_runs_the_script_it_copies() -> None:
    command = healthcheck_command()
    assert command[0] == "python3", "the image has python3 on its PATH, and no curl"
    copies = [rest.split() for keyword, rest in stages()[-1] if keyword == "COPY"]
    assert ["deploy/healthcheck.py", command[1]] in copies
    assert (REPO / "deploy" / "healthcheck.py").is_file()
    assert not any(k == "HEALTHCHECK" for stage in stages()[:-1] for k, _ in stage)


def test_compose_healthchecks_match_the_image(services: dict[str, dict[str, Any]]) -> None:
    for name in ("projector", "publisher", "delivery"):
        assert services[name]["healthcheck"]["test"] == ["CMD", *healthcheck_command()], name
    api = services["api"]["healthcheck"]["test"]
    assert api[:2] == ["CMD", "python3"] and "127.0.0.1:8080/readyz" in api[-1]


def test_dockerfile_installs_the_locked_wheels_only() -> None:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    assert not re.search(r"^#\s*syntax\s*=", text, re.M | re.I), "no BuildKit frontend to fetch"
    assert "build-essential" not in text and "gcc" not in text
    builder = " ".join(rest for _, rest in stages()[0])
    for option in ("--require-hashes", "--only-binary=:all:", "-r deploy/requirements.lock"):
        assert option in builder, option
    assert "-r deploy/build-requirements.lock" in builder
    project_install = builder[builder.index("pip wheel") :]
    assert "--no-deps" in project_install and "--no-build-isolation" in project_install
    assert re.search(r"^ARG PYTHON_IMAGE=python:3\.11-slim$", text, re.M)


def dockerignore_patterns() -> list[str]:
    lines = (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def test_dockerignore_lets_in_only_what_the_dockerfile_copies() -> None:
    patterns = dockerignore_patterns()
    assert patterns[0] in ("*", "**"), ".dockerignore starts by leaving everything out"
    let_in = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    sources = set()
    for stage in stages():
        for keyword, rest in stage:
            if keyword == "COPY" and not rest.startswith("--from="):
                *paths, _ = rest.split()
                sources.update(path.rstrip("/") for path in paths)
    assert let_in == sources, "re-include exactly the Dockerfile's COPY sources"
    for secret in (".git", ".venv", "deploy/dev-secrets", "var", "tests"):
        assert not any(source == secret or source.startswith(secret + "/") for source in let_in)
    for cache in ("**/__pycache__", "**/*.pyc"):
        assert cache in patterns


# ---------------------------------------------------------------------------------- dev secrets


def test_dev_secrets_script_writes_the_env_files_compose_reads(tmp_path: Path) -> None:
    """deploy/dev-secrets.sh with a stand-in `tempstrong keys` writing the files it writes."""
    sh = shutil.which("sh")
    if sh is None:
        pytest.skip("no POSIX shell")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    stub = bin_dir / "tempstrong"
    stub.write_text(
        "#!/bin/sh\n"
        '[ "$1" = keys ] && [ "$2" = --out ] || exit 9\n'
        'echo \'{"keys": []}\' > "$3/jwks.json"\n'
        'echo "PUBLIC+key/b64=" > "$3/delivery-public.key"\n'
        'echo "PRIVATE+key/b64=" > "$3/delivery-private.key"\n'
        'echo "hash-key-0123456789abcdef" > "$3/hash.key"\n'
        'printf \'{\\n  "keys": []\\n}\\n\' > "$3/personal-data-keys.json"\n'
    )
    stub.chmod(0o755)
    out = tmp_path / "dev-secrets"
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin"}
    subprocess.run(
        [sh, str(DEPLOY / "dev-secrets.sh"), str(out)], env=env, check=True, capture_output=True
    )
    values = {}
    for name, expected in ENV_FILES.items():
        path = out / Path(name).name
        assert path.stat().st_mode & 0o077 == 0, f"{path.name} is readable by others"
        (line,) = path.read_text().splitlines()
        key, _, value = line.partition("=")
        assert {key} == expected
        values[key] = value
    assert values == {
        "TEMPSTRONG_HASH_KEY": "hash-key-0123456789abcdef",
        "TEMPSTRONG_DELIVERY_PUBLIC_KEY": "PUBLIC+key/b64=",
        "TEMPSTRONG_DELIVERY_PRIVATE_KEY": "PRIVATE+key/b64=",
        # the keyring's JSON on one line: compose reads one line per variable
        "TEMPSTRONG_PERSONAL_DATA_KEYS": '{  "keys": []}',
    }
