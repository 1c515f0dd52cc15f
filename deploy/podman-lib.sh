# shellcheck shell=bash
# What deploy/image-smoke.sh and k8s/run-with-podman.sh share: sourced by both, never run.
# deploy/README.md ("The image without a registry") explains each choice.
#
# The script that sources it sets, before it calls anything here:
#   NAME     its log prefix (image-smoke, k8s-run)
#   SKIPPED  the first words of its skip line ("image smoke test", "k8s run")
#   KIND     the middle of its database, vhost and run names: tempstrong_<KIND>_<epoch>_<pid>
# and may set SKIP_FAILS_UNDER_CI=1: then, with CI set, a skip is a failure.
#
# Podman: configured for these scripts alone (CONTAINERS_* under $STATE), its storage shared by
# both, so that the run of the manifests uses the image the smoke test built. Runs of either are
# serialized by the lock $STATE/lock (fd 9).

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${TEMPSTRONG_SMOKE_STATE:-/var/lib/tempstrong-image-smoke}
RUNTIME_DIR=/run/$(basename "$STATE")
IMAGE=localhost/tempstrong:smoke
SUITE=bookworm
BASE_PACKAGES=python3,python3-venv,ca-certificates
HOST_CA=/etc/ssl/certs/ca-certificates.crt
PERMISSIONS=(AccessControl.UserCreate AccessControl.CredentialCreate AccessControl.CredentialView
    AccessControl.CredentialModify AccessControl.CredentialVerify)

ID="${KIND}_$(date +%s)_$$"
DATABASE="tempstrong_$ID"
VHOST="tempstrong_$ID"
EMAIL="${ID//_/-}@example.com"
DATABASE_CREATED=
VHOST_CREATED=
SINK_PID=
WORK=

say() { printf '%s: %s\n' "$NAME" "$*"; }
fail() { printf '%s: FAILED: %s\n' "$NAME" "$*" >&2; exit 1; }
under_ci() { [[ ! ${CI:-} =~ ^(|0|[Ff]alse|[Nn]o)$ ]]; }
skip() {
    if [ -n "${SKIP_FAILS_UNDER_CI:-}" ] && under_ci; then
        fail "cannot run, and CI is set, so this is no skip: $*"
    fi
    printf '%s skipped: %s\n' "$SKIPPED" "$*"
    exit 0
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
show_log() { # show_log FILE [LINES]: the end of a log, indented, on stderr
    [ -s "$1" ] && tail -n "${2:-40}" "$1" | sed 's/^/    /' >&2
    return 0
}

# Every podman call without fd 9, the lock of prepare(): a container's conmon outlives the call
# and would otherwise hold the lock for as long as the container runs.
podman() { command podman "$@" 9>&-; }

# ------------------------------------------------------------------------------ the tools

apt_install() {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" \
        >>"$STATE/apt.log" 2>&1 && return 0
    apt-get update -q >>"$STATE/apt.log" 2>&1 &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" \
            >>"$STATE/apt.log" 2>&1
}

ensure_tools() { # ensure_tools [TOOL...]: podman and runc, and each TOOL (its Debian package too)
    local missing=() tool
    # runc named with podman, so that apt satisfies podman's `crun | runc` with runc: crun
    # rejects a host with cgroup v1 and v2 hierarchies mixed, as this machine kind has.
    type -P podman >/dev/null || missing+=(podman runc)
    type -P runc >/dev/null || [[ " ${missing[*]} " == *" runc "* ]] || missing+=(runc)
    for tool in "$@"; do
        type -P "$tool" >/dev/null || missing+=("$tool")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if ! type -P apt-get >/dev/null; then
        type -P podman >/dev/null || skip "no podman, and no apt-get to install it"
        fail "missing ${missing[*]}, and no apt-get to install them"
    fi
    say "installing ${missing[*]} with apt-get"
    if ! apt_install "${missing[@]}"; then
        type -P podman >/dev/null || skip "podman could not be installed (apt-get failed: $STATE/apt.log)"
        show_log "$STATE/apt.log" 20
        fail "apt-get could not install ${missing[*]}"
    fi
}

# --------------------------------------------------------------------------- podman's set-up

write_if_changed() { # write_if_changed FILE (content on stdin)
    local content
    content=$(cat)
    [ -f "$1" ] && [ "$(cat "$1")" = "$content" ] && return 0
    printf '%s\n' "$content" >"$1.tmp" && mv "$1.tmp" "$1"
}

storage_driver() {
    # overlay (the kernel's, as root) when this file system takes an overlay mount, else vfs
    # (works anywhere, but copies every layer in full). Chosen once: podman refuses to open a
    # storage with another driver than the one it was created with.
    local probe="$STATE/overlay-probe" driver=vfs
    rm -rf "$probe" && mkdir -p "$probe"/{lower,upper,work,merged}
    if mount -t overlay overlay \
        -o "lowerdir=$probe/lower,upperdir=$probe/upper,workdir=$probe/work" "$probe/merged" \
        2>/dev/null; then
        umount "$probe/merged" && driver=overlay
    fi
    rm -rf "$probe"
    echo "$driver"
}

configure_podman() {
    local nofile nproc
    mkdir -p "$RUNTIME_DIR"
    # A container's default limits must stay within this process's hard limits: raising them
    # needs CAP_SYS_RESOURCE, which this machine does not give (podman's own default, nofile
    # 1048576, fails here).
    nofile=$(ulimit -Hn)
    nproc=$(ulimit -Hu)
    [ "$nofile" = unlimited ] && nofile=1048576
    if [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ]; then nproc=32768; fi
    write_if_changed "$STATE/containers.conf" <<EOF
# Written by deploy/podman-lib.sh for its scripts' podman calls (CONTAINERS_CONF): no systemd
# here, cgroup v1 and v2 mixed (runc, not crun), limits within the hard limits of the caller.
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
log_driver = "k8s-file"

[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$RUNTIME_DIR/events.log"
tmp_dir = "$RUNTIME_DIR/libpod"
static_dir = "$STATE/storage/libpod"
volume_path = "$STATE/storage/volumes"
EOF
    if [ ! -f "$STATE/storage.conf" ]; then
        write_if_changed "$STATE/storage.conf" <<EOF
# Written once by deploy/podman-lib.sh (CONTAINERS_STORAGE_CONF), before its first podman call.
[storage]
driver = "$(storage_driver)"
graphroot = "$STATE/storage"
runroot = "$RUNTIME_DIR/storage"
EOF
    fi
    write_if_changed "$STATE/registries.conf" <<EOF
# Written by deploy/podman-lib.sh (CONTAINERS_REGISTRIES_CONF): no registry is ever asked;
# every image it uses is local (localhost/...).
unqualified-search-registries = []
short-name-mode = "enforcing"
EOF
    export CONTAINERS_CONF="$STATE/containers.conf"
    export CONTAINERS_STORAGE_CONF="$STATE/storage.conf"
    export CONTAINERS_REGISTRIES_CONF="$STATE/registries.conf"
}

prepare() { # prepare [TOOL...]: root, the tools, the lock, podman's set-up, $WORK
    if [ "$(id -u)" != 0 ]; then
        type -P podman >/dev/null || skip "no podman, and not root to install it"
        fail "needs root (debootstrap, rootful podman with its storage under $STATE)"
    fi
    mkdir -p "$STATE"
    ensure_tools "$@"
    exec 9>"$STATE/lock"
    flock -w 1800 9 || fail "another run of $NAME or its sibling holds $STATE/lock"
    configure_podman
    WORK=$(mktemp -d "/tmp/tempstrong-$NAME.XXXXXX")
}

# --------------------------------------------------------------------------- the base image

make_base_rootfs() { # make_base_rootfs DIR: Debian minbase with python3 and a venv at /usr/local
    local root=$1
    # shellcheck disable=SC2086 # the mirror is optional
    debootstrap --variant=minbase --include="$BASE_PACKAGES" "$SUITE" "$root" \
        ${TEMPSTRONG_SMOKE_MIRROR:-}
    LC_ALL=C chroot "$root" /usr/bin/python3 -m venv /usr/local
    rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* \
        "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* \
        "$root"/usr/share/locale/* "$root"/var/log/* "$root"/etc/hostname "$root"/etc/resolv.conf
}

base_image() {
    local tag root started old
    tag="localhost/tempstrong-base:$SUITE-$(
        { declare -f make_base_rootfs; echo "$SUITE $BASE_PACKAGES"; } | sha256sum | cut -c1-12
    )"
    BASE_IMAGE=$tag
    if podman image exists "$tag"; then
        say "base image $tag (cached)"
        return 0
    fi
    started=$(now)
    root="$STATE/rootfs"
    rm -rf "$root"
    make_base_rootfs "$root" >"$STATE/base.log" 2>&1 || {
        show_log "$STATE/base.log"
        fail "debootstrap of the base image"
    }
    tar -C "$root" --numeric-owner --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
        -cf - . |
        podman import --quiet \
            --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' \
            --message "debootstrap --variant=minbase $SUITE + $BASE_PACKAGES, venv at /usr/local" \
            - "$tag" >>"$STATE/base.log" 2>&1 || {
        show_log "$STATE/base.log"
        fail "podman import of the base image"
    }
    rm -rf "$root"
    # earlier recipes' bases are of no further use (an image still built on one keeps it)
    mapfile -t old < <(podman images --format '{{.Repository}}:{{.Tag}}' localhost/tempstrong-base |
        grep -vxF "$tag")
    [ ${#old[@]} -eq 0 ] || podman rmi "${old[@]}" >/dev/null 2>&1 || true
    say "base image $tag built in $(since "$started") s"
}

# ------------------------------------------------------------------------------- the image

build_image() { # $IMAGE from deploy/Dockerfile on $BASE_IMAGE (the layer cache makes a rerun quick)
    local started args old
    started=$(now)
    old=$(podman image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
    args=(build --pull=never --network host --format docker --layers
        --build-arg "PYTHON_IMAGE=$BASE_IMAGE" -f "$REPO/deploy/Dockerfile" -t "$IMAGE")
    # pip in the build trusts what this host trusts (a proxy that re-signs TLS, say)
    [ -f "$HOST_CA" ] && args+=(-v "$HOST_CA:/etc/ssl/certs/ca-certificates.crt:ro")
    podman "${args[@]}" "$REPO" >"$WORK/build.log" 2>&1 || {
        show_log "$WORK/build.log"
        fail "podman build (deploy/Dockerfile)"
    }
    # the previous build's image, now untagged, and its own layers; the layer cache (untagged
    # images of the build steps) only once unused for 30 days: pruning it all would cost the
    # next build its pip layer (25 s)
    if [ -n "$old" ] && [ "$old" != "$(podman image inspect --format '{{.Id}}' "$IMAGE")" ]; then
        podman rmi "$old" >/dev/null 2>&1 || true
    fi
    podman image prune --force --filter until=720h >/dev/null 2>&1 || true
    BUILD_SECONDS=$(since "$started")
    say "image $IMAGE built in $BUILD_SECONDS s"
}

tempstrong_once() { # tempstrong_once ARGS...: a one-shot `tempstrong` in the image, no network
    podman run --rm --network none --read-only --user 10001:10001 --cap-drop=ALL \
        --security-opt no-new-privileges --health-cmd none -v "$WORK/keys:/keys" "$IMAGE" "$@" \
        2>>"$WORK/podman.log"
}

dev_keys() { # dev keys (`tempstrong keys`) in $WORK/keys, from the image itself
    mkdir -p "$WORK/keys"
    chown 10001:10001 "$WORK/keys"
    tempstrong_once keys --out /keys >"$WORK/keys.log" 2>&1 || {
        show_log "$WORK/keys.log"
        fail "tempstrong keys (in the image)"
    }
}

# ------------------------------------------------------------- PostgreSQL, RabbitMQ, the sink

psql_admin() {
    psql -h 127.0.0.1 -p 5432 -U postgres -d postgres -v ON_ERROR_STOP=1 -qAt "$@" >/dev/null 2>&1
}

sweep_stale() {
    # databases and vhosts of earlier runs whose clean-up could not finish (killed, or the broker
    # down at the time): this script's names only, and only those more than an hour old
    local name born
    while read -r name; do
        born=${name#tempstrong_"$KIND"_}
        born=${born%%_*}
        [ $(($(date +%s) - born)) -gt 3600 ] || continue
        if [[ $1 == database ]]; then
            psql_admin -c "DROP DATABASE IF EXISTS $name WITH (FORCE)" || true
        else
            rabbitmqctl -q delete_vhost "$name" >/dev/null 2>&1 || true
        fi
    done < <(
        if [[ $1 == database ]]; then
            psql -h 127.0.0.1 -p 5432 -U postgres -d postgres -qAt \
                -c "SELECT datname FROM pg_database" 2>/dev/null
        else
            rabbitmqctl -q list_vhosts name 2>/dev/null
        fi | grep -E "^tempstrong_${KIND}_[0-9]+_[0-9]+\$"
    )
}

open_backends() { # a database $DATABASE and a vhost $VHOST of this run's own
    pg_isready -h 127.0.0.1 -p 5432 -q || fail "PostgreSQL is not reachable on 127.0.0.1:5432"
    sweep_stale database
    sweep_stale vhost
    rabbitmqctl -q add_vhost "$VHOST" >/dev/null 2>&1 || fail "RabbitMQ: rabbitmqctl add_vhost"
    VHOST_CREATED=1
    rabbitmqctl -q set_permissions -p "$VHOST" guest '.*' '.*' '.*' >/dev/null 2>&1 ||
        fail "RabbitMQ: rabbitmqctl set_permissions"
    psql_admin -c "CREATE DATABASE $DATABASE" || fail "PostgreSQL: CREATE DATABASE $DATABASE"
    DATABASE_CREATED=1
    DATABASE_URL="postgresql://postgres@127.0.0.1:5432/$DATABASE"
    AMQP_URL="amqp://guest:guest@127.0.0.1:5672/$VHOST"
}

close_backends() { # for the clean-up: the sink, the database, the vhost, $WORK
    if [ -n "$SINK_PID" ]; then
        kill "$SINK_PID" 2>/dev/null && wait "$SINK_PID" 2>/dev/null
    fi
    [ -n "$DATABASE_CREATED" ] && psql_admin -c "DROP DATABASE IF EXISTS $DATABASE WITH (FORCE)"
    [ -n "$VHOST_CREATED" ] && rabbitmqctl -q delete_vhost "$VHOST" >/dev/null 2>&1
    [ -n "$WORK" ] && rm -rf "$WORK"
    return 0
}

free_ports() { # free_ports N: N distinct free loopback ports
    python3 - "$1" <<'EOF'
import socket, sys
sockets = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in sockets:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in sockets))
EOF
}

helper_python() { # a python with aiosmtpd and PyYAML: the project's .venv (.ci/run makes it),
    # else a venv of our own
    local check='import aiosmtpd, yaml'
    if [ -x "$REPO/.venv/bin/python" ] && "$REPO/.venv/bin/python" -c "$check" 2>/dev/null; then
        echo "$REPO/.venv/bin/python"
        return 0
    fi
    if ! "$STATE/venv/bin/python" -c "$check" 2>/dev/null; then
        { python3 -m venv "$STATE/venv" &&
            "$STATE/venv/bin/pip" install -q 'aiosmtpd>=1.4,<2' 'pyyaml>=6,<7'; } >"$WORK/venv.log" 2>&1 || {
            show_log "$WORK/venv.log"
            fail "a venv with aiosmtpd and PyYAML"
        }
    fi
    echo "$STATE/venv/bin/python"
}

wait_for_port() { # wait_for_port PORT SECONDS
    local deadline=$((SECONDS + $2))
    until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.2
    done
}

start_sink() { # start_sink PORT: an SMTP sink on 127.0.0.1:PORT, each mail into $WORK/mail
    "$(helper_python)" -m aiosmtpd -n -l "127.0.0.1:$1" \
        -c aiosmtpd.handlers.Mailbox "$WORK/mail" >"$WORK/sink.log" 2>&1 &
    SINK_PID=$!
    wait_for_port "$1" 20 || {
        show_log "$WORK/sink.log"
        fail "the SMTP sink did not listen on 127.0.0.1:$1"
    }
}

# ------------------------------------------------------------------ a reset that ends as a mail

api() { # api METHOD PATH EXPECTED_STATUS [JSON]: the response body on stdout ($API, $TOKEN)
    local status
    status=$(curl -sS -o "$WORK/response" -w '%{http_code}' -X "$1" "$API$2" \
        -H "X-Token: $TOKEN" -H 'Content-Type: application/json' ${4:+-d "$4"}) || status=000
    if [ "$status" != "$3" ]; then
        fail "$1 $2 answered $status, not $3: $(head -c 500 "$WORK/response")"
    fi
    cat "$WORK/response"
}

wait_for_mail() { # wait_for_mail N: the code of the Nth mail to $EMAIL (60 s at most)
    python3 - "$WORK/mail" "$EMAIL" "$1" 60 <<'EOF'
import email, email.policy, mailbox, os, re, sys, time
folder, address, count, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
deadline = time.monotonic() + seconds
while True:
    box = mailbox.Maildir(folder, create=False)
    found = []
    for key in box.keys() if os.path.isdir(os.path.join(folder, "cur")) else []:
        message = email.message_from_bytes(box.get_bytes(key), policy=email.policy.default)
        if message["To"] == address:
            found.append((box.get_message(key).get_date(), message))
    if len(found) >= count:
        message = sorted(found, key=lambda item: item[0])[count - 1][1]
        text = message.get_body(preferencelist=("plain",)).get_content()
        codes = re.findall(r"^Code: (\S+)$", text, re.MULTILINE)
        if len(codes) != 1:
            sys.exit(f"mail {count} to {address} has no single 'Code: <secret>' line:\n{text}")
        print(codes[0])
        break
    if time.monotonic() > deadline:
        sys.exit(f"{len(found)} mail(s) to {address} after {seconds:.0f} s, expected {count}")
    time.sleep(0.2)
EOF
}

reset_ends_as_mail() { # reset_ends_as_mail USER: through $API, under a policy that sends by Email
    local user=$1 reset fragment0 code secret
    # a user with an email address, its credential (whose code goes by mail), then one reset
    api POST /users 201 "{\"extId\":\"$user\",\"email\":\"$EMAIL\"}" >/dev/null
    api POST "/users/$user/tempstrong-password" 201 >/dev/null
    wait_for_mail 1 >/dev/null || fail "the credential's mail did not arrive"
    reset=$(api POST "/users/$user/tempstrong-password/reset" 200)
    fragment0=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["tempStrongPassword"])' \
        <<<"$reset") || fail "the reset's answer has no tempStrongPassword: $reset"
    code=$(wait_for_mail 2) || fail "the reset's mail did not arrive"
    secret=$(python3 -c 'import json, sys; print(json.dumps({"password": sys.argv[1]}))' \
        "$fragment0$code")
    api POST "/users/$user/tempstrong-password/verify" 200 "$secret" >/dev/null
    say "reset -> mail to $EMAIL with its 'Code:' line; fragment0 + code verifies"
}
