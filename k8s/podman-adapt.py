#!/usr/bin/env python3
"""Adapts a rendered overlay for `podman kube play` (podman 4.3, Debian bookworm's), so that
k8s/run-with-podman.sh can run its workloads on this machine: the smallest change that lets
podman run them, and nothing that changes what they mean (env, commands, args, mounts,
probes' paths, security contexts and resources stay as rendered).

    python3 k8s/podman-adapt.py RENDERED OUT_OF_BAND OUTDIR

RENDERED is `kubectl kustomize k8s/overlays/<env>`; OUT_OF_BAND the Secrets and ConfigMaps an
operator creates in the namespace (`sh k8s/dev-secrets.sh DIR`). Into OUTDIR it writes:

    migrate.yaml    the ConfigMaps and the migrate Job's pod, as a Pod (run it first, to the end)
    workloads.yaml  the ConfigMaps and the Deployments
    secrets/NAME    each Secret in podman's format, for `podman secret create NAME FILE`
    configmaps      the ConfigMaps' names, one a line (podman keeps a volume of each)
    probes          `DEPLOYMENT PROBE PORT PATH` for each httpGet probe, one a line
    grace           `DEPLOYMENT SECONDS`: each one's terminationGracePeriodSeconds
    image           the one image every workload runs

The adaptations, each for a limit of podman 4.3's `kube play`:

1. Only Pods and Deployments run. A Job is ignored: its pod template becomes a Pod of the
   Job's name (restartPolicy kept; the Job's backoffLimit and activeDeadlineSeconds are the
   caller's to enforce). Service, HorizontalPodAutoscaler, PodDisruptionBudget, NetworkPolicy,
   Namespace and ServiceAccount are ignored by podman and left out here; any other kind is an
   error, so that a new kind gets a decision.
2. A secretKeyRef is read from the podman secret of the Secret's name, whose content must be
   the JSON of the Secret's `data` (key -> base64), not the Secret object: secrets/NAME.
3. Secret *volumes* crash podman 4.3: the manifests have none (the JWKS, public keys only, is a
   ConfigMap), and one is an error here rather than an adaptation.
4. The pods use the host's network (`hostNetwork: true`), where PostgreSQL, RabbitMQ and the
   SMTP sink listen on 127.0.0.1. Podman refuses port mappings (`ports:`) with host networking,
   so they are removed, and a probe that names a port gets that port's number first (without
   `ports:`, podman 4.3 would make the name port 0). The processes listen on the ports their
   environment gives, as in a cluster.

ConfigMaps (rendered or out of band) go into both played files: podman reads configMapKeyRef
and configMap volumes from the ConfigMaps in the same file.
"""

from __future__ import annotations

import base64
import copy
import json
import sys
from pathlib import Path
from typing import Any

import yaml

IGNORED_KINDS = frozenset(
    {
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "NetworkPolicy",
        "Namespace",
        "ServiceAccount",
    }
)
PROBES = ("livenessProbe", "readinessProbe", "startupProbe")
GRACE, DEFAULT_GRACE = "terminationGracePeriodSeconds", 30  # Kubernetes' default
Object = dict[str, Any]


class AdaptError(Exception):
    """The manifests hold something podman 4.3 cannot run and no adaptation here covers."""


def host_network_pod_spec(spec: Object, owner: str) -> Object:
    """The pod spec on the host's network: `ports:` removed, probes' named ports as numbers."""
    adapted = copy.deepcopy(spec)
    for volume in adapted.get("volumes", []):
        if "secret" in volume:
            raise AdaptError(
                f"{owner}: volume {volume['name']!r} is a Secret volume, on which podman 4.3 "
                "crashes; mount public data from a ConfigMap, pass secrets as env"
            )
    adapted["hostNetwork"] = True
    for container in adapted["containers"] + adapted.get("initContainers", []):
        named = {port["name"]: port["containerPort"] for port in container.pop("ports", [])}
        for kind in PROBES:
            action = container.get(kind, {}).get("httpGet")
            if action is None:
                continue
            port = action["port"]
            if isinstance(port, str) and not port.isdigit():
                if port not in named:
                    raise AdaptError(f"{owner}: {kind} names port {port!r}, which is not declared")
                action["port"] = named[port]
    return adapted


def job_as_pod(job: Object) -> Object:
    template = job["spec"]["template"]
    metadata: Object = {"name": job["metadata"]["name"]}
    for key in ("labels", "annotations"):
        if template.get("metadata", {}).get(key):
            metadata[key] = template["metadata"][key]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": metadata,
        "spec": host_network_pod_spec(template["spec"], f"Job/{job['metadata']['name']}"),
    }


def deployment_on_host_network(deployment: Object) -> Object:
    adapted = copy.deepcopy(deployment)
    template = adapted["spec"]["template"]
    template["spec"] = host_network_pod_spec(
        template["spec"], f"Deployment/{deployment['metadata']['name']}"
    )
    return adapted


def podman_secret(secret: Object) -> str:
    """A Secret as podman 4.3 reads a secretKeyRef: JSON of key -> base64 of the value."""
    data = dict(secret.get("data") or {})
    for key, value in (secret.get("stringData") or {}).items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    return json.dumps(data, sort_keys=True)


def probes(deployment: Object) -> list[str]:
    """`DEPLOYMENT PROBE PORT PATH` of every httpGet probe of the adapted Deployment."""
    found = []
    for container in deployment["spec"]["template"]["spec"]["containers"]:
        for kind in PROBES:
            action = container.get(kind, {}).get("httpGet")
            if action is not None:
                name = deployment["metadata"]["name"]
                found.append(f"{name} {kind} {int(action['port'])} {action['path']}")
    return found


def adapt(rendered: list[Object], out_of_band: list[Object]) -> dict[str, str]:
    """File name (relative to OUTDIR) -> content."""
    configmaps: list[Object] = []
    deployments: list[Object] = []
    jobs: list[Object] = []
    files: dict[str, str] = {}
    for obj in [*rendered, *out_of_band]:
        kind = obj["kind"]
        if kind == "ConfigMap":
            configmaps.append(obj)
        elif kind == "Secret":
            files[f"secrets/{obj['metadata']['name']}"] = podman_secret(obj) + "\n"
        elif kind == "Deployment":
            deployments.append(deployment_on_host_network(obj))
        elif kind == "Job":
            jobs.append(job_as_pod(obj))
        elif kind not in IGNORED_KINDS:
            raise AdaptError(f"{kind}/{obj['metadata']['name']}: a kind this adaptation lacks")
    if len(jobs) != 1 or not deployments:
        raise AdaptError(
            f"expected one Job and some Deployments, got {len(jobs)} and {len(deployments)}"
        )
    pod_specs = [d["spec"]["template"]["spec"] for d in deployments] + [p["spec"] for p in jobs]
    images = {container["image"] for spec in pod_specs for container in spec["containers"]}
    if len(images) != 1:
        raise AdaptError(f"expected one image for every workload, got {sorted(images)}")
    files["migrate.yaml"] = yaml.safe_dump_all([*configmaps, *jobs], sort_keys=False)
    files["workloads.yaml"] = yaml.safe_dump_all([*configmaps, *deployments], sort_keys=False)
    files["configmaps"] = "".join(f"{c['metadata']['name']}\n" for c in configmaps)
    files["probes"] = "".join(f"{line}\n" for d in deployments for line in probes(d))
    files["grace"] = "".join(
        f"{d['metadata']['name']} {d['spec']['template']['spec'].get(GRACE, DEFAULT_GRACE)}\n"
        for d in deployments
    )
    files["image"] = f"{images.pop()}\n"
    return files


def load(path: str) -> list[Object]:
    with open(path, encoding="utf-8") as stream:
        return [doc for doc in yaml.safe_load_all(stream) if doc]


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.split("\n\n")[1], file=sys.stderr)
        return 2
    rendered, out_of_band, outdir = argv
    try:
        files = adapt(load(rendered), load(out_of_band))
    except AdaptError as exc:
        print(f"podman-adapt: {exc}", file=sys.stderr)
        return 1
    for name, content in files.items():
        path = Path(outdir) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if name.startswith("secrets/"):
            path.touch(mode=0o600)
        path.write_text(content, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
