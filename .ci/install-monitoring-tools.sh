#!/usr/bin/env bash
# Installs what tests/deploy needs to check k8s/monitoring offline: promtool (`promtool check rules`,
# `promtool test rules`). Idempotent: does nothing when a promtool on PATH runs.
#
# Order: the promtool already on PATH (or in the tools folder); promtool extracted from Debian's
# `prometheus` package (`apt-get download` + `dpkg -x` into the tools folder and linked onto PATH:
# the package is not installed, so no Prometheus server is set up or started); only if that fails,
# a full `apt-get install prometheus` with service start-up disabled for the install.
set -euo pipefail

tools_dir=${TEMPSTRONG_MONITORING_TOOLS_DIR:-/opt/tempstrong-monitoring-tools}
bin_dir=${TEMPSTRONG_MONITORING_BIN_DIR:-/usr/local/bin}

have_promtool() {
    command -v promtool >/dev/null 2>&1 && promtool --version >/dev/null 2>&1
}

done_with() {
    echo "install-monitoring-tools: using $(command -v promtool) ($(promtool --version 2>&1 | head -n 1))"
    exit 0
}

sudo=""
if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
fi

if have_promtool; then
    done_with
fi
if [ -x "$tools_dir/bin/promtool" ] && "$tools_dir/bin/promtool" --version >/dev/null 2>&1; then
    $sudo mkdir -p "$bin_dir"
    $sudo ln -sf "$tools_dir/bin/promtool" "$bin_dir/promtool"
    have_promtool && done_with
fi

if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-monitoring-tools: no promtool and no apt-get; install promtool (Prometheus 2.x)" >&2
    exit 1
fi

# 1. promtool alone, out of Debian's prometheus package.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 0755 "$work"
chown _apt "$work" 2>/dev/null || true   # apt-get download runs as _apt where it can
download() {
    (cd "$work" && apt-get download -qq prometheus >/dev/null 2>&1)
}
if ! download; then
    $sudo apt-get update -qq
    download || true
fi
deb=$(find "$work" -maxdepth 1 -name 'prometheus_*.deb' | head -n 1)
if [ -n "$deb" ]; then
    dpkg-deb -x "$deb" "$work/root"
    if [ -x "$work/root/usr/bin/promtool" ]; then
        $sudo mkdir -p "$tools_dir/bin" "$bin_dir"
        $sudo install -m 0755 "$work/root/usr/bin/promtool" "$tools_dir/bin/promtool"
        $sudo ln -sf "$tools_dir/bin/promtool" "$bin_dir/promtool"
    fi
fi
if have_promtool; then
    done_with
fi

# 2. Last resort: the whole package, without letting its postinst start the server.
echo "install-monitoring-tools: extracting promtool failed; installing Debian's prometheus"
policy=/usr/sbin/policy-rc.d
created_policy=""
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
    $sudo chmod 0755 "$policy"
    created_policy=yes
fi
status=0
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends prometheus \
    || status=$?
if [ -n "$created_policy" ]; then
    $sudo rm -f "$policy"
fi
if [ "$status" -ne 0 ] || ! have_promtool; then
    echo "install-monitoring-tools: promtool is still missing" >&2
    exit 1
fi
done_with
