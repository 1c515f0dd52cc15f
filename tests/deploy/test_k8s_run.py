"""k8s/run-with-podman.sh as text and in its skip paths, and k8s/podman-adapt.py on the rendered
dev overlay: the adaptations it makes for podman, and nothing else. The real run is a step of
`.ci/run`, after deploy/image-smoke.sh, whose image it uses; under CI it fails instead of
skipping when podman or kubectl is missing, and so do the tests here that render (kubectl).
"""

from __future__ import annotations

import base64
import copy
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tests.support.kubernetes import K8S, REPO, overlay_path, render
from tests.support.scripts import run_without_podman

SCRIPT = K8S / "run-with-podman.sh"
ADAPT = K8S / "podman-adapt.py"
DEV_SECRETS = K8S / "dev-secrets.sh"


def adapt_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("tempstrong_podman_adapt", ADAPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ---------------------------------------------------------------------------------- the script


def test_scripts_parse() -> None:
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)
    subprocess.run(["sh", "-n", str(DEV_SECRETS)], check=True)


def test_ci_runs_it_after_the_image_smoke() -> None:
    lines = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()]
    assert lines.index("bash deploy/image-smoke.sh") < lines.index("bash k8s/run-with-podman.sh")


def test_it_plays_the_dev_overlay_as_documented() -> None:
    text = SCRIPT.read_text()
    assert "set -euo pipefail" in text
    assert 'OVERLAY="$REPO/k8s/overlays/dev"' in text
    assert "trap cleanup EXIT" in text
    for step in ("kubectl kustomize", "k8s/dev-secrets.sh", "k8s/podman-adapt.py", "kube play"):
        assert step in text, step
    cleanup = text.split("cleanup() {")[1].split("\n}\n")[0]
    for removal in ("remove_pods", "remove_podman_objects", "podman untag", "close_backends"):
        assert removal in cleanup, removal


def test_skips_where_podman_cannot_be_had(tmp_path: Path) -> None:
    result = run_without_podman(SCRIPT, tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("k8s run skipped: no podman"), result.stdout


def test_under_ci_the_same_is_a_failure(tmp_path: Path) -> None:
    result = run_without_podman(SCRIPT, tmp_path, CI="true")
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.startswith("k8s-run: FAILED: cannot run, and CI is set"), result.stderr
    assert "no podman" in result.stderr


def test_explicit_skip() -> None:
    env = {**os.environ, "TEMPSTRONG_K8S_RUN_SKIP": "1", "CI": "true"}
    result = subprocess.run(
        ["bash", str(SCRIPT)], env=env, capture_output=True, text=True, check=False
    )
    assert (result.returncode, result.stdout) == (0, "k8s run skipped: TEMPSTRONG_K8S_RUN_SKIP=1\n")


# ---------------------------------------------------------------------------------- the adaptation


def out_of_band() -> list[dict[str, Any]]:
    """As k8s/dev-secrets.sh makes them (one Secret with stringData, to cover both forms)."""
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "tempstrong-db"}}
    return [
        {**secret, "data": {"database-url": base64.b64encode(b"postgresql://x/y").decode()}},
        {**secret, "metadata": {"name": "tempstrong-gateways"}, "stringData": {"smtp-url": "s"}},
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "tempstrong-jwks"},
            "data": {"jwks.json": '{"keys": []}'},
        },
    ]


@pytest.fixture(scope="module")
def dev() -> tuple[dict[str, Any], ...]:
    return render(overlay_path("dev"))


@pytest.fixture(scope="module")
def adapted(dev: tuple[dict[str, Any], ...]) -> dict[str, str]:
    files: dict[str, str] = adapt_module().adapt(list(dev), out_of_band())
    return files


def _named(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def expected_on_host_network(spec: dict[str, Any]) -> dict[str, Any]:
    """What the adaptation may change in a pod spec, and nothing more."""
    spec = copy.deepcopy(spec)
    spec["hostNetwork"] = True
    for container in spec["containers"]:
        named = {p["name"]: p["containerPort"] for p in container.pop("ports", [])}
        for kind in ("livenessProbe", "readinessProbe"):
            if kind in container:
                port = container[kind]["httpGet"]["port"]
                container[kind]["httpGet"]["port"] = named.get(port, port)
    return spec


def test_deployments_change_only_network_ports_and_probe_port_names(
    dev: tuple[dict[str, Any], ...], adapted: dict[str, str]
) -> None:
    played = list(yaml.safe_load_all(adapted["workloads.yaml"]))
    rendered = _named(list(dev), "Deployment")
    deployments = _named(played, "Deployment")
    assert set(deployments) == set(rendered)
    for name, deployment in deployments.items():
        expected = copy.deepcopy(rendered[name])
        expected["spec"]["template"]["spec"] = expected_on_host_network(
            expected["spec"]["template"]["spec"]
        )
        assert deployment == expected, name
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            assert "ports" not in container
            for kind in ("livenessProbe", "readinessProbe"):
                assert isinstance(container[kind]["httpGet"]["port"], int), (name, kind)


def test_the_job_runs_as_a_pod_of_its_name(
    dev: tuple[dict[str, Any], ...], adapted: dict[str, str]
) -> None:
    (job,) = _named(list(dev), "Job").values()
    pods = _named(list(yaml.safe_load_all(adapted["migrate.yaml"])), "Pod")
    assert set(pods) == {"tempstrong-migrate"}
    pod = pods["tempstrong-migrate"]
    assert pod["metadata"]["labels"] == job["spec"]["template"]["metadata"]["labels"]
    assert pod["spec"] == expected_on_host_network(job["spec"]["template"]["spec"])
    assert pod["spec"]["restartPolicy"] == "OnFailure"


def test_configmaps_go_with_both_plays_and_nothing_else_is_played(
    dev: tuple[dict[str, Any], ...], adapted: dict[str, str]
) -> None:
    configmaps = {n for n in _named(list(dev), "ConfigMap")} | {"tempstrong-jwks"}
    for name, kinds in (("migrate.yaml", {"Pod"}), ("workloads.yaml", {"Deployment"})):
        played = list(yaml.safe_load_all(adapted[name]))
        assert set(_named(played, "ConfigMap")) == configmaps, name
        assert {o["kind"] for o in played} == kinds | {"ConfigMap"}, name
    assert set(adapted["configmaps"].split()) == configmaps


def test_secrets_in_podmans_format(adapted: dict[str, str]) -> None:
    secrets = {name[len("secrets/") :]: json.loads(v) for name, v in adapted.items() if "/" in name}
    assert secrets == {
        "tempstrong-db": {"database-url": base64.b64encode(b"postgresql://x/y").decode()},
        "tempstrong-gateways": {"smtp-url": base64.b64encode(b"s").decode()},
    }


def test_probes_image_and_grace_for_the_script(adapted: dict[str, str]) -> None:
    probes = {tuple(line.split()) for line in adapted["probes"].splitlines()}
    assert ("tempstrong-api", "readinessProbe", "8080", "/readyz") in probes
    assert ("tempstrong-delivery", "livenessProbe", "9103", "/healthz") in probes
    assert len(probes) == 8
    assert adapted["image"] == "registry.example.com/tempstrong/tempstrong:dev\n"
    assert {line.split()[1] for line in adapted["grace"].splitlines()} == {"30"}


def test_a_secret_volume_is_refused(dev: tuple[dict[str, Any], ...]) -> None:
    module = adapt_module()
    objects = copy.deepcopy(list(dev))
    api = _named(objects, "Deployment")["tempstrong-api"]["spec"]["template"]["spec"]
    api["volumes"].append({"name": "keys", "secret": {"secretName": "tempstrong-keys"}})
    with pytest.raises(module.AdaptError, match="Secret volume"):
        module.adapt(objects, out_of_band())


def test_an_unknown_kind_is_refused(dev: tuple[dict[str, Any], ...]) -> None:
    module = adapt_module()
    cronjob = {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "x"}}
    with pytest.raises(module.AdaptError, match="CronJob/x"):
        module.adapt([*dev, cronjob], out_of_band())


def test_a_probe_naming_an_undeclared_port_is_refused(dev: tuple[dict[str, Any], ...]) -> None:
    module = adapt_module()
    objects = copy.deepcopy(list(dev))
    api = _named(objects, "Deployment")["tempstrong-api"]["spec"]["template"]["spec"]
    api["containers"][0]["livenessProbe"]["httpGet"]["port"] = "health"
    with pytest.raises(module.AdaptError, match="names port 'health'"):
        module.adapt(objects, out_of_band())


def test_the_command_line_writes_the_files(
    dev: tuple[dict[str, Any], ...], adapted: dict[str, str], tmp_path: Path
) -> None:
    rendered, extra = tmp_path / "rendered.yaml", tmp_path / "out-of-band.yaml"
    rendered.write_text(yaml.safe_dump_all(dev, sort_keys=False))
    extra.write_text(yaml.safe_dump_all(out_of_band()))
    outdir = tmp_path / "play"
    subprocess.run([sys.executable, str(ADAPT), str(rendered), str(extra), str(outdir)], check=True)
    written = {str(p.relative_to(outdir)): p.read_text() for p in outdir.rglob("*") if p.is_file()}
    assert set(written) == set(adapted)
    for name, text in written.items():
        if name.endswith(".yaml"):
            assert list(yaml.safe_load_all(text)) == list(yaml.safe_load_all(adapted[name])), name
        else:
            assert text == adapted[name], name
    assert (outdir / "secrets" / "tempstrong-db").stat().st_mode & 0o077 == 0
