"""Renders k8s/base and every overlay with `kubectl kustomize`, validates each object offline
against the Kubernetes JSON schemas (kubernetes-validate, strict) and checks the rules of
docs/operations.md: probes, resources, hardening, Secrets by reference, HPA, PDBs, NetworkPolicies,
the migrate Job; and k8s/monitoring, alone and added to each overlay.

Without kubectl the module is skipped, except under CI, where it fails: run
`.ci/install-k8s-tools.sh` first.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.kubernetes import (
    K8S,
    OVERLAYS,
    REPO,
    kubectl,
    overlay_path,
    render,
    under_ci,
)

TREES = ("base", *OVERLAYS)
NAMESPACES = {"dev": "tempstrong-dev", "prod": "tempstrong"}
# A schema version that kubernetes-validate ships (it has no network access to fetch others).
KUBERNETES_VERSION = os.environ.get("TEMPSTRONG_K8S_SCHEMA_VERSION", "1.30.0")

PROCESSES = ("api", "projector", "publisher", "delivery")
METRICS_PORTS = {"projector": 9101, "publisher": 9102, "delivery": 9103}
API_PORT = 8080
UID = 10001

# Environment each process needs (docs/operations.md); the values that are secrets must come from a
# secretKeyRef, never a literal.
REQUIRED_ENV = {
    "api": {
        "TEMPSTRONG_DATABASE_URL",
        "TEMPSTRONG_JWKS",
        "TEMPSTRONG_JWT_ISSUER",
        "TEMPSTRONG_JWT_AUDIENCE",
        "TEMPSTRONG_POLICY_FILE",
        "TEMPSTRONG_HASH_KEY",
        "TEMPSTRONG_DELIVERY_PUBLIC_KEY",
        "TEMPSTRONG_HTTP_HOST",
        "TEMPSTRONG_HTTP_PORT",
    },
    "projector": {"TEMPSTRONG_DATABASE_URL", "TEMPSTRONG_METRICS_PORT"},
    "publisher": {
        "TEMPSTRONG_DATABASE_URL",
        "TEMPSTRONG_AMQP_URL",
        "TEMPSTRONG_METRICS_PORT",
    },
    "delivery": {
        "TEMPSTRONG_DATABASE_URL",
        "TEMPSTRONG_AMQP_URL",
        "TEMPSTRONG_DELIVERY_PRIVATE_KEY",
        "TEMPSTRONG_SMTP_URL",
        "TEMPSTRONG_SMS_URL",
        "TEMPSTRONG_SPOOL_DIR",
        "TEMPSTRONG_METRICS_PORT",
    },
    "migrate": {"TEMPSTRONG_DATABASE_URL", "TEMPSTRONG_AMQP_URL"},
}
SECRET_ENV = {
    "TEMPSTRONG_DATABASE_URL",
    "TEMPSTRONG_AMQP_URL",
    "TEMPSTRONG_HASH_KEY",
    "TEMPSTRONG_DELIVERY_PUBLIC_KEY",
    "TEMPSTRONG_DELIVERY_PRIVATE_KEY",
    "TEMPSTRONG_SMTP_URL",
    "TEMPSTRONG_SMS_URL",
}

# What each process may reach, by NetworkPolicy (port numbers; protocol TCP unless noted).
EXPECTED_EGRESS = {
    "api": {("UDP", 53), ("TCP", 53), ("TCP", 5432), ("TCP", 5672)},
    "projector": {("UDP", 53), ("TCP", 53), ("TCP", 5432), ("TCP", 5672)},
    "publisher": {("UDP", 53), ("TCP", 53), ("TCP", 5432), ("TCP", 5672)},
    "delivery": {
        ("UDP", 53),
        ("TCP", 53),
        ("TCP", 5432),
        ("TCP", 5672),
        ("TCP", 25),
        ("TCP", 465),
        ("TCP", 587),
        ("TCP", 443),
    },
    "migrate": {("UDP", 53), ("TCP", 53), ("TCP", 5432), ("TCP", 5672)},
}


def _kubernetes_validate() -> Any:
    try:
        import kubernetes_validate
    except ImportError:
        if under_ci():
            pytest.fail("kubernetes-validate is not installed (it is in the project's test extras)")
        pytest.skip("kubernetes-validate is not installed (pip install kubernetes-validate)")
    return kubernetes_validate


def _render(tree: str) -> tuple[dict[str, Any], ...]:
    return render(overlay_path(tree))


@pytest.fixture(params=TREES)
def tree(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=OVERLAYS)
def overlay(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def objects_of(tree: str, kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in _render(tree) if o["kind"] == kind}


def deployments(tree: str) -> dict[str, dict[str, Any]]:
    found = objects_of(tree, "Deployment")
    assert set(found) == {f"tempstrong-{p}" for p in PROCESSES}, sorted(found)
    return {p: found[f"tempstrong-{p}"] for p in PROCESSES}


def migrate_job(tree: str) -> dict[str, Any]:
    jobs = objects_of(tree, "Job")
    assert set(jobs) == {"tempstrong-migrate"}, sorted(jobs)
    return jobs["tempstrong-migrate"]


def workloads(tree: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(process, pod template) for every Deployment and the migrate Job."""
    for process, deployment in deployments(tree).items():
        yield process, deployment["spec"]["template"]
    yield "migrate", migrate_job(tree)["spec"]["template"]


def only_container(template: dict[str, Any]) -> dict[str, Any]:
    containers = template["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    names = [e["name"] for e in container.get("env", [])]
    assert len(names) == len(set(names)), f"duplicate env entries: {names}"
    assert "envFrom" not in container, "list each variable explicitly, no envFrom"
    return {e["name"]: e for e in container.get("env", [])}


# ---------------------------------------------------------------------------------- schemas


def test_every_object_validates_against_the_kubernetes_schemas(tree: str) -> None:
    kubernetes_validate = _kubernetes_validate()
    problems = []
    for obj in _render(tree):
        name = f"{obj['kind']}/{obj['metadata']['name']}"
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            problems.append(f"{name}: {path}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            problems.append(f"{name}: {exc.message}")
    assert not problems, "\n".join(problems)


def test_the_objects_of_each_overlay(overlay: str) -> None:
    kinds: dict[str, set[str]] = {}
    for obj in _render(overlay):
        kinds.setdefault(obj["kind"], set()).add(obj["metadata"]["name"])
    assert kinds.pop("Namespace") == {NAMESPACES[overlay]}
    configmaps = kinds.pop("ConfigMap")
    assert {re.sub(r"-[a-z0-9]{10}$", "", n) for n in configmaps} == {
        "tempstrong-policies",
        "tempstrong-config",
    }, "ConfigMaps come from configMapGenerator (name hash suffix)"
    assert kinds == {
        "ServiceAccount": {"tempstrong"},
        "Deployment": {f"tempstrong-{p}" for p in PROCESSES},
        "Service": {"tempstrong-api"},
        "HorizontalPodAutoscaler": {"tempstrong-api"},
        "PodDisruptionBudget": {f"tempstrong-{p}" for p in PROCESSES},
        "NetworkPolicy": {
            "tempstrong-default-deny",
            "tempstrong-egress-dependencies",
            "tempstrong-api-ingress",
            "tempstrong-metrics-ingress",
            "tempstrong-delivery-egress",
        },
        "Job": {"tempstrong-migrate"},
    }


def test_overlays_set_the_namespace_on_every_object(overlay: str) -> None:
    for obj in _render(overlay):
        if obj["kind"] == "Namespace":
            continue
        assert obj["metadata"].get("namespace") == NAMESPACES[overlay], obj["metadata"]["name"]


# ---------------------------------------------------------------------------------- secrets


def test_no_secret_values_in_base_or_prod() -> None:
    for tree in ("base", "prod"):
        for obj in _render(tree):
            assert obj["kind"] != "Secret" or not (obj.get("data") or obj.get("stringData")), (
                f"{tree}: Secret {obj['metadata']['name']} carries inline values"
            )


def test_dev_secrets_if_any_are_placeholders() -> None:
    for secret in objects_of("dev", "Secret").values():
        values = list((secret.get("stringData") or {}).values())
        assert not secret.get("data"), "dev Secrets may only carry stringData placeholders"
        assert all("replace-me" in v for v in values), secret["metadata"]["name"]


def referenced_secrets(tree: str) -> dict[str, set[str]]:
    """Secret name -> keys, from secretKeyRef and secret volumes of every workload."""
    return {name: keys for (kind, name), keys in out_of_band(tree).items() if kind == "secret"}


def out_of_band(tree: str) -> dict[tuple[str, str], set[str]]:
    """("secret" | "configmap", name) -> keys of what the workloads reference and the manifests
    do not make: the objects an operator creates in the namespace."""
    rendered = set(objects_of(tree, "ConfigMap"))
    refs: dict[tuple[str, str], set[str]] = {}
    for _, template in workloads(tree):
        for env in env_of(only_container(template)).values():
            for kind, ref_key in (("secret", "secretKeyRef"), ("configmap", "configMapKeyRef")):
                ref = env.get("valueFrom", {}).get(ref_key)
                if ref:
                    refs.setdefault((kind, ref["name"]), set()).add(ref["key"])
        for volume in template["spec"].get("volumes", []):
            for kind, source, name_key in (
                ("secret", "secret", "secretName"),
                ("configmap", "configMap", "name"),
            ):
                if source in volume:
                    keys = {i["key"] for i in volume[source].get("items", [])}
                    refs.setdefault((kind, volume[source][name_key]), set()).update(keys)
    return {ref: keys for ref, keys in refs.items() if ref[0] == "secret" or ref[1] not in rendered}


def test_secret_values_come_from_secret_references(tree: str) -> None:
    for process, template in workloads(tree):
        for name, env in env_of(only_container(template)).items():
            if name in SECRET_ENV:
                assert "value" not in env, f"{process}: {name} must not be a literal"
                assert "secretKeyRef" in env.get("valueFrom", {}), f"{process}: {name}"


def test_operations_doc_creates_every_referenced_secret_and_configmap() -> None:
    doc = (REPO / "docs" / "operations.md").read_text(encoding="utf-8")
    for (kind, name), keys in out_of_band("base").items():
        create = "create secret generic" if kind == "secret" else "create configmap"
        command = re.search(rf"kubectl[^\n]*{create} {re.escape(name)}\b(?:[^\n]*\\\n)*[^\n]*", doc)
        assert command, f"docs/operations.md has no `kubectl {create} {name}`"
        for key in keys:
            assert f"--from-file={key}=" in command.group(0) or (
                f"--from-literal={key}=" in command.group(0)
            ), f"docs/operations.md: {kind} {name} lacks key {key}"


def test_dev_secrets_script_makes_every_referenced_secret_and_configmap(
    overlay: str, tmp_path: Path
) -> None:
    """k8s/dev-secrets.sh: exactly the objects an overlay references and does not make."""
    for name in (
        "jwks.json",
        "hash.key",
        "delivery-public.key",
        "delivery-private.key",
        "personal-data-keys.json",
    ):
        (tmp_path / name).write_text(f"{name} value\n")
    for name in ("database-url", "amqp-url", "smtp-url", "sms-url"):
        (tmp_path / name).write_text(f"{name}://value\n")
    kubectl()  # the script makes each object with `kubectl create --dry-run=client`
    result = subprocess.run(
        ["sh", str(K8S / "dev-secrets.sh"), str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    made = {
        (obj["kind"].lower(), obj["metadata"]["name"]): set(obj["data"])
        for obj in yaml.safe_load_all(result.stdout)
        if obj
    }
    assert made == out_of_band(overlay)


def test_only_the_delivery_worker_gets_the_private_key(tree: str) -> None:
    for process, template in workloads(tree):
        env = env_of(only_container(template))
        assert ("TEMPSTRONG_DELIVERY_PRIVATE_KEY" in env) == (process == "delivery"), process
        if process == "delivery":
            assert "TEMPSTRONG_DELIVERY_PUBLIC_KEY" not in env
            assert "TEMPSTRONG_HASH_KEY" not in env
    private = referenced_secrets(tree)
    assert "tempstrong-delivery-private" in private


# ---------------------------------------------------------------------------------- workloads


def test_each_process_gets_the_settings_it_needs(tree: str) -> None:
    for process, template in workloads(tree):
        container = only_container(template)
        env = env_of(container)
        missing = REQUIRED_ENV[process] - set(env)
        assert not missing, f"{process}: missing {sorted(missing)}"
        assert container["args"] == [process]
        if process in METRICS_PORTS:
            assert env["TEMPSTRONG_METRICS_PORT"]["value"] == str(METRICS_PORTS[process])
        else:
            assert "TEMPSTRONG_METRICS_PORT" not in env, process
    api_env = env_of(only_container(deployments(tree)["api"]["spec"]["template"]))
    assert api_env["TEMPSTRONG_HTTP_HOST"]["value"] == "0.0.0.0"
    assert api_env["TEMPSTRONG_HTTP_PORT"]["value"] == str(API_PORT)


def _http_port(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    named = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    assert port in named, f"probe names port {port!r}, which the container does not declare"
    return int(named[port])


def test_probes(tree: str) -> None:
    for process, deployment in deployments(tree).items():
        container = only_container(deployment["spec"]["template"])
        live, ready = container.get("livenessProbe"), container.get("readinessProbe")
        assert live and ready, f"{process}: needs livenessProbe and readinessProbe"
        port = API_PORT if process == "api" else METRICS_PORTS[process]
        assert live["httpGet"]["path"] == "/healthz"
        assert _http_port(container, live["httpGet"]["port"]) == port
        assert ready["httpGet"]["path"] == ("/readyz" if process == "api" else "/healthz")
        assert _http_port(container, ready["httpGet"]["port"]) == port


def test_resources_requests_and_limits(tree: str) -> None:
    for process, template in workloads(tree):
        resources = only_container(template).get("resources", {})
        for section in ("requests", "limits"):
            assert {"cpu", "memory"} <= set(resources.get(section, {})), f"{process}: {section}"


def test_security_context(tree: str) -> None:
    for process, template in workloads(tree):
        pod = template["spec"]
        assert pod.get("automountServiceAccountToken") is False, process
        assert pod.get("serviceAccountName") == "tempstrong", process
        psc = pod.get("securityContext", {})
        assert psc.get("runAsNonRoot") is True, process
        assert psc.get("runAsUser") == UID, process
        assert psc.get("seccompProfile", {}).get("type") == "RuntimeDefault", process
        for container in pod["containers"] + pod.get("initContainers", []):
            csc = container.get("securityContext", {})
            assert csc.get("runAsNonRoot") is True, process
            assert csc.get("runAsUser") == UID, process
            assert csc.get("readOnlyRootFilesystem") is True, process
            assert csc.get("allowPrivilegeEscalation") is False, process
            assert csc.get("privileged", False) is False, process
            assert csc.get("capabilities", {}).get("drop") == ["ALL"], process
            assert not csc.get("capabilities", {}).get("add"), process
            assert csc.get("seccompProfile", {}).get("type") == "RuntimeDefault", process


def test_tmp_is_an_empty_dir_and_files_come_from_volumes(tree: str) -> None:
    for process, template in workloads(tree):
        container = only_container(template)
        volumes = {v["name"]: v for v in template["spec"].get("volumes", [])}
        mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
        assert "emptyDir" in volumes[mounts["/tmp"]], process
        env = env_of(container)

        def volume_for(path: str) -> dict[str, Any]:
            directory = next((m for m in mounts if path.startswith(m.rstrip("/") + "/")), None)
            assert directory, f"{process}: {path} is on no mounted volume"
            return volumes[mounts[directory]]

        if "TEMPSTRONG_POLICY_FILE" in env:
            volume = volume_for(env["TEMPSTRONG_POLICY_FILE"]["value"])
            assert volume["configMap"]["name"].startswith("tempstrong-policies-"), process
            assert env["TEMPSTRONG_POLICY_FILE"]["value"].endswith("/policies.yaml")
        if "TEMPSTRONG_JWKS" in env:
            volume = volume_for(env["TEMPSTRONG_JWKS"]["value"])
            assert "secret" not in volume, "the JWKS holds public keys only: a ConfigMap"
            assert volume["configMap"]["name"] == "tempstrong-jwks", process
            jwks_mount = next(m for m in container["volumeMounts"] if m["name"] == "jwks")
            assert "subPath" not in jwks_mount, "subPath mounts never see a rotated JWKS"
        if "TEMPSTRONG_SPOOL_DIR" in env:
            assert env["TEMPSTRONG_SPOOL_DIR"]["value"] in mounts, process


def test_deployment_settings(tree: str) -> None:
    for process, deployment in deployments(tree).items():
        template = deployment["spec"]["template"]
        labels = template["metadata"]["labels"]
        assert labels["app.kubernetes.io/part-of"] == "tempstrong"
        assert labels["app.kubernetes.io/component"] == process
        selector = deployment["spec"]["selector"]["matchLabels"]
        assert selector.items() <= labels.items(), process
        assert template["spec"]["terminationGracePeriodSeconds"] == 30, process
        annotations = template["metadata"].get("annotations", {})
        assert annotations.get("prometheus.io/scrape") == "true", process
        assert annotations.get("prometheus.io/path") == "/metrics", process
        port = API_PORT if process == "api" else METRICS_PORTS[process]
        assert annotations.get("prometheus.io/port") == str(port), process
        if process in ("projector", "publisher"):
            assert deployment["spec"].get("replicas") == 1, f"{process}: single follower"
            assert deployment["spec"]["strategy"]["type"] == "Recreate", process
        if process == "api":
            assert "replicas" not in deployment["spec"], "the HPA owns the API's replica count"


def test_images_are_set_by_the_overlays(overlay: str) -> None:
    images = {only_container(t)["image"] for _, t in workloads(overlay)}
    assert len(images) == 1, f"one image for all processes, got {images}"
    image = images.pop()
    name, _, tag = image.rpartition(":")
    assert name.endswith("/tempstrong"), image
    if overlay == "dev":
        assert tag == "dev"
    else:
        assert re.fullmatch(r"\d+\.\d+\.\d+", tag) or "@sha256:" in image, "prod pins its image"


def test_replicas_per_overlay() -> None:
    dev = deployments("dev")
    assert all(d["spec"].get("replicas", 1) == 1 for d in dev.values())
    assert (
        objects_of("dev", "HorizontalPodAutoscaler")["tempstrong-api"]["spec"]["minReplicas"] == 1
    )
    prod = deployments("prod")
    assert prod["delivery"]["spec"]["replicas"] >= 2
    hpa = objects_of("prod", "HorizontalPodAutoscaler")["tempstrong-api"]["spec"]
    assert (hpa["minReplicas"], hpa["maxReplicas"]) == (3, 10)


def _cpu_millis(value: str | int) -> float:
    text = str(value)
    return float(text[:-1]) if text.endswith("m") else float(text) * 1000


def test_prod_requests_more_than_dev() -> None:
    dev, prod = deployments("dev"), deployments("prod")
    for process in PROCESSES:
        dev_cpu = only_container(dev[process]["spec"]["template"])["resources"]["requests"]["cpu"]
        prod_cpu = only_container(prod[process]["spec"]["template"])["resources"]["requests"]["cpu"]
        assert _cpu_millis(prod_cpu) > _cpu_millis(dev_cpu), process


# ---------------------------------------------------------------------------------- the rest


def test_service_account_mounts_no_token(tree: str) -> None:
    account = objects_of(tree, "ServiceAccount")["tempstrong"]
    assert account["automountServiceAccountToken"] is False


def test_api_service(tree: str) -> None:
    service = objects_of(tree, "Service")["tempstrong-api"]
    api = deployments(tree)["api"]
    container = only_container(api["spec"]["template"])
    pod_labels = api["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    ports = {p["name"]: p for p in service["spec"]["ports"]}
    assert ports["http"]["port"] == 80
    assert _http_port(container, ports["http"]["targetPort"]) == API_PORT
    assert _http_port(container, ports["metrics"]["targetPort"]) == API_PORT


def test_hpa_scales_the_api_on_cpu(tree: str) -> None:
    hpa = objects_of(tree, "HorizontalPodAutoscaler")["tempstrong-api"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "tempstrong-api",
    }
    (metric,) = hpa["spec"]["metrics"]
    assert metric["type"] == "Resource"
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"] == {"type": "Utilization", "averageUtilization": 70}
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]


def test_pod_disruption_budgets(tree: str) -> None:
    budgets = objects_of(tree, "PodDisruptionBudget")
    for process, deployment in deployments(tree).items():
        spec = budgets[f"tempstrong-{process}"]["spec"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert spec["selector"]["matchLabels"].items() <= labels.items(), process
        if process == "api":
            assert spec == {**spec, "minAvailable": 1} and "maxUnavailable" not in spec
        else:
            assert spec == {**spec, "maxUnavailable": 1} and "minAvailable" not in spec


def test_migrate_job(tree: str) -> None:
    job = migrate_job(tree)
    template = job["spec"]["template"]
    assert template["spec"]["restartPolicy"] in ("OnFailure", "Never")
    container = only_container(template)
    assert container["args"] == ["migrate"]
    api_image = only_container(deployments(tree)["api"]["spec"]["template"])["image"]
    assert container["image"] == api_image


def test_configmap_references_resolve(tree: str) -> None:
    configmaps = objects_of(tree, "ConfigMap")
    for process, template in workloads(tree):
        for env in env_of(only_container(template)).values():
            ref = env.get("valueFrom", {}).get("configMapKeyRef")
            if ref:
                assert ref["key"] in configmaps[ref["name"]]["data"], f"{process}: {ref}"
        for volume in template["spec"].get("volumes", []):
            if "configMap" in volume:
                name = volume["configMap"]["name"]
                assert name in configmaps or ("configmap", name) in out_of_band(tree), process


def test_policy_configmap_is_a_valid_policy_file(tree: str) -> None:
    (policies,) = (
        o for n, o in objects_of(tree, "ConfigMap").items() if n.startswith("tempstrong-policies-")
    )
    document = yaml.safe_load(policies["data"]["policies.yaml"])
    assert document == yaml.safe_load((REPO / "deploy" / "policies.yaml").read_text())
    for client, body in document["clients"].items():
        default = (body or {}).get("defaultPolicy")
        assert default is None or default in document["policies"], client
    try:
        from service.domain.policy_file import parse_policy_document
    except ImportError:
        return  # the service's own parser is checked where the project is installed
    parse_policy_document(document, None)


# ---------------------------------------------------------------------------------- network


def _matches(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    assert set(selector) <= {"matchLabels", "matchExpressions"}, selector
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        key, operator, values = expression["key"], expression["operator"], expression.get("values")
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def _allowed(tree: str, labels: dict[str, str], direction: str) -> dict[tuple[str, int], list[Any]]:
    """(protocol, port) -> peers that the NetworkPolicies selecting these labels allow."""
    allowed: dict[tuple[str, int], list[Any]] = {}
    rules_key, peers_key = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    for policy in objects_of(tree, "NetworkPolicy").values():
        spec = policy["spec"]
        if direction not in spec["policyTypes"] or not _matches(spec["podSelector"], labels):
            continue
        for rule in spec.get(rules_key, []):
            assert rule.get("ports"), f"{policy['metadata']['name']}: a rule without ports"
            for port in rule["ports"]:
                assert isinstance(port["port"], int) and "endPort" not in port
                allowed.setdefault((port.get("protocol", "TCP"), port["port"]), []).extend(
                    rule.get(peers_key) or ["anywhere"]
                )
    return allowed


def test_default_deny_covers_every_pod(tree: str) -> None:
    deny = objects_of(tree, "NetworkPolicy")["tempstrong-default-deny"]["spec"]
    assert set(deny["policyTypes"]) == {"Ingress", "Egress"}
    assert "ingress" not in deny and "egress" not in deny
    for process, template in workloads(tree):
        assert _matches(deny["podSelector"], template["metadata"]["labels"]), process


def test_network_policies_allow_exactly_what_each_process_needs(tree: str) -> None:
    for process, template in workloads(tree):
        labels = template["metadata"]["labels"]
        egress = _allowed(tree, labels, "Egress")
        assert set(egress) == EXPECTED_EGRESS[process], process
        dns = egress[("UDP", 53)]
        assert all(p["podSelector"]["matchLabels"] == {"k8s-app": "kube-dns"} for p in dns)
        assert all(
            p["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": "kube-system"}
            for p in dns
        )
        for port, name in ((5432, "postgresql"), (5672, "rabbitmq")):
            peers = egress[("TCP", port)]
            assert all(
                p["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": name} for p in peers
            ), process
        ingress = _allowed(tree, labels, "Ingress")
        if process == "api":
            assert set(ingress) == {("TCP", API_PORT)}
        elif process == "migrate":
            assert ingress == {}
        else:
            assert set(ingress) <= {("TCP", p) for p in METRICS_PORTS.values()}
            peers = ingress[("TCP", METRICS_PORTS[process])]
            assert peers == [
                {
                    "namespaceSelector": {
                        "matchLabels": {"kubernetes.io/metadata.name": "monitoring"}
                    }
                }
            ], process


# ---------------------------------------------------------------------------------- monitoring

MONITORING = K8S / "monitoring"
# ConfigMap -> the one source file it carries.
MONITORING_CONFIGMAPS = {
    "tempstrong-grafana-dashboard": "tempstrong-dashboard.json",
    "tempstrong-prometheus-rules": "tempstrong-rules.yaml",
}


def _strict_problems(objects: tuple[dict[str, Any], ...]) -> list[str]:
    kubernetes_validate = _kubernetes_validate()
    problems = []
    for obj in objects:
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{obj['kind']}/{obj['metadata']['name']}: {exc.message}")
        except kubernetes_validate.SchemaNotFoundError as exc:
            problems.append(f"{obj['kind']}/{obj['metadata']['name']}: {exc.message}")
    return problems


def _check_monitoring_configmaps(objects: tuple[dict[str, Any], ...]) -> None:
    configmaps = {o["metadata"]["name"]: o for o in objects if o["kind"] == "ConfigMap"}
    for name, source in MONITORING_CONFIGMAPS.items():
        assert name in configmaps, f"{name}: a stable name (no hash suffix) for Grafana/Prometheus"
        text = (MONITORING / source).read_text(encoding="utf-8")
        assert configmaps[name]["data"] == {source: text}, f"{name} carries {source} as it is"
    dashboard = configmaps["tempstrong-grafana-dashboard"]["metadata"]["labels"]
    assert dashboard.get("grafana_dashboard") == "1", "the Grafana sidecar's label"
    rules = configmaps["tempstrong-prometheus-rules"]["metadata"]["labels"]
    assert "grafana_dashboard" not in rules


def test_monitoring_renders_alone_and_validates() -> None:
    objects = render(MONITORING)
    assert sorted((o["kind"], o["metadata"]["name"]) for o in objects) == [
        ("ConfigMap", name) for name in sorted(MONITORING_CONFIGMAPS)
    ]
    _check_monitoring_configmaps(objects)
    problems = _strict_problems(objects)
    assert not problems, "\n".join(problems)


def test_monitoring_added_to_an_overlay(overlay: str, tmp_path: Path) -> None:
    """What docs/operations.md tells operators to do: list ../../monitoring under `bases:`."""
    copy = tmp_path / overlay
    shutil.copytree(K8S / "overlays" / overlay, copy)
    kustomization = yaml.safe_load((copy / "kustomization.yaml").read_text(encoding="utf-8"))
    assert kustomization["bases"] == ["../../base"]
    kustomization["bases"] = [os.path.relpath(p, copy) for p in (K8S / "base", MONITORING)]
    (copy / "kustomization.yaml").write_text(yaml.safe_dump(kustomization), encoding="utf-8")
    objects = render(copy)
    _check_monitoring_configmaps(objects)
    for obj in objects:
        if obj["kind"] != "Namespace":
            assert obj["metadata"].get("namespace") == NAMESPACES[overlay], obj["metadata"]["name"]
    added = [o for o in objects if o not in _render(overlay)]
    assert sorted(o["metadata"]["name"] for o in added) == sorted(MONITORING_CONFIGMAPS)
    problems = _strict_problems(objects)
    assert not problems, "\n".join(problems)


def test_monitoring_for_the_prometheus_operator() -> None:
    """Custom resources: rendered and checked here, never part of an overlay the strict schema
    check validates. That the PrometheusRule is generated from the rule file: test_monitoring.py."""
    objects = render(MONITORING / "prometheus-operator")
    kinds = {o["kind"]: o for o in objects}
    assert set(kinds) == {"PrometheusRule", "PodMonitor"}
    assert all(o["apiVersion"] == "monitoring.coreos.com/v1" for o in objects)
    assert kinds["PrometheusRule"]["spec"] == yaml.safe_load(
        (MONITORING / "tempstrong-rules.yaml").read_text(encoding="utf-8")
    )
    monitor = kinds["PodMonitor"]["spec"]
    assert monitor["namespaceSelector"] == {"any": True}, "one PodMonitor for every namespace"
    api = deployments("base")["api"]["spec"]["template"]
    assert _matches(monitor["selector"], api["metadata"]["labels"])
    ports = {e["port"] for e in monitor["podMetricsEndpoints"]}
    assert ports == {"http", "metrics"}
    for process, deployment in deployments("base").items():
        template = deployment["spec"]["template"]
        assert _matches(monitor["selector"], template["metadata"]["labels"]), process
        named = {p["name"] for p in only_container(template).get("ports", [])}
        assert named & ports, f"{process}: no port the PodMonitor scrapes"
    assert {"app.kubernetes.io/name", "app.kubernetes.io/component"} <= set(
        monitor["podTargetLabels"]
    ), "TempstrongTargetDown selects and names targets by these labels"
