#!/usr/bin/env bash
# Builds deploy/Dockerfile with podman, without any image registry, and smoke-tests the image
# against the local PostgreSQL (127.0.0.1:5432) and RabbitMQ (127.0.0.1:5672). .ci/run calls it
# after the test suite; deploy/README.md ("The image without a registry") explains each choice.
#
#   bash deploy/image-smoke.sh
#
# 1. podman, runc and debootstrap from apt-get when missing (without podman: skipped, exit 0);
# 2. podman configured for this script alone (CONTAINERS_CONF, CONTAINERS_STORAGE_CONF and
#    CONTAINERS_REGISTRIES_CONF under $TEMPSTRONG_SMOKE_STATE): the machine's own podman set-up,
#    if any, is neither read nor changed;
# 3. a base image: Debian bookworm by debootstrap (minbase) with python3, python3-venv and
#    ca-certificates, a venv at /usr/local, `podman import`ed and kept, tagged by a hash of its
#    recipe, so later runs reuse it;
# 4. `podman build` of deploy/Dockerfile with PYTHON_IMAGE set to that base;
# 5. the smoke: a database and a RabbitMQ vhost of its own, dev keys and a token from the image,
#    an SMTP sink on the host; `migrate`, then `api`, `projector`, `publisher` and `delivery` as
#    containers (read-only, uid 10001, no capabilities, no-new-privileges); a user, its
#    credential and one reset through the API, whose code must arrive by mail and verify; each
#    container's HEALTHCHECK; SIGTERM must stop each one with status 0 in under 10 s.
# Everything it starts or creates is removed on exit, failure included.
#
# Environment: TEMPSTRONG_SMOKE_STATE (default /var/lib/tempstrong-image-smoke): podman's config
# and storage, the cached base image; TEMPSTRONG_SMOKE_MIRROR: a Debian mirror for debootstrap
# (default: debootstrap's own); TEMPSTRONG_SMOKE_SKIP=1 skips the whole test.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
STATE=${TEMPSTRONG_SMOKE_STATE:-/var/lib/tempstrong-image-smoke}
RUNTIME_DIR=/run/$(basename "$STATE")
IMAGE=localhost/tempstrong:smoke
SUITE=bookworm
BASE_PACKAGES=python3,python3-venv,ca-certificates
HOST_CA=/etc/ssl/certs/ca-certificates.crt
STOP_LIMIT=10
PERMISSIONS=(AccessControl.UserCreate AccessControl.CredentialCreate AccessControl.CredentialView
    AccessControl.CredentialModify AccessControl.CredentialVerify)

say() { printf 'image-smoke: %s\n' "$*"; }
skip() { printf 'image smoke test skipped: %s\n' "$*"; exit 0; }
fail() { printf 'image-smoke: FAILED: %s\n' "$*" >&2; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
show_log() { # show_log FILE [LINES]: the end of a log, indented, on stderr
    [ -s "$1" ] && tail -n "${2:-40}" "$1" | sed 's/^/    /' >&2
    return 0
}

[ "${TEMPSTRONG_SMOKE_SKIP:-}" = 1 ] && skip "TEMPSTRONG_SMOKE_SKIP=1"

# Every podman call without fd 9, the lock of main(): a container's conmon outlives the call and
# would otherwise hold the lock for as long as the container runs.
podman() { command podman "$@" 9>&-; }

# ------------------------------------------------------------------------------ 1. the tools

apt_install() {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" \
        >>"$STATE/apt.log" 2>&1 && return 0
    apt-get update -q >>"$STATE/apt.log" 2>&1 &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" \
            >>"$STATE/apt.log" 2>&1
}

ensure_tools() {
    local missing=()
    # runc named with podman, so that apt satisfies podman's `crun | runc` with runc: crun
    # rejects a host with cgroup v1 and v2 hierarchies mixed, as this machine kind has.
    type -P podman >/dev/null || missing+=(podman runc)
    type -P runc >/dev/null || [[ " ${missing[*]} " == *" runc "* ]] || missing+=(runc)
    type -P debootstrap >/dev/null || missing+=(debootstrap)
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

# --------------------------------------------------------------------------- 2. podman's set-up

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
# Written by deploy/image-smoke.sh for its own podman calls (CONTAINERS_CONF): no systemd here,
# cgroup v1 and v2 mixed (runc, not crun), limits within the hard limits of the caller.
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
# Written once by deploy/image-smoke.sh (CONTAINERS_STORAGE_CONF), before its first podman call.
[storage]
driver = "$(storage_driver)"
graphroot = "$STATE/storage"
runroot = "$RUNTIME_DIR/storage"
EOF
    fi
    write_if_changed "$STATE/registries.conf" <<EOF
# Written by deploy/image-smoke.sh (CONTAINERS_REGISTRIES_CONF): no registry is ever asked;
# every image it uses is local (localhost/...).
unqualified-search-registries = []
short-name-mode = "enforcing"
EOF
    export CONTAINERS_CONF="$STATE/containers.conf"
    export CONTAINERS_STORAGE_CONF="$STATE/storage.conf"
    export CONTAINERS_REGISTRIES_CONF="$STATE/registries.conf"
}

# --------------------------------------------------------------------------- 3. the base image

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

# ------------------------------------------------------------------------------- 4. the image

build_image() {
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

# ------------------------------------------------------------------------------- 5. the smoke

ID="smoke_$(date +%s)_$$"
DATABASE="tempstrong_$ID"
VHOST="tempstrong_$ID"
EMAIL="${ID//_/-}@example.com"
CONTAINERS=()
DATABASE_CREATED=
VHOST_CREATED=
SINK_PID=
WORK=

cleanup() {
    local rc=$? name
    set +e
    trap - EXIT INT TERM
    if [ "$rc" -ne 0 ]; then
        for name in "${CONTAINERS[@]}"; do
            podman container exists "$name" || continue
            printf 'image-smoke: --- logs of %s (%s)\n' "$name" \
                "$(podman container inspect --format '{{.State.Status}}, exit {{.State.ExitCode}}' "$name" 2>&1)" >&2
            podman logs "$name" 2>&1 | tail -n 40 | sed 's/^/    /' >&2
        done
    fi
    if [ ${#CONTAINERS[@]} -gt 0 ]; then
        podman rm --force --ignore --time 0 "${CONTAINERS[@]}" >/dev/null 2>&1
    fi
    if [ -n "$SINK_PID" ]; then
        kill "$SINK_PID" 2>/dev/null && wait "$SINK_PID" 2>/dev/null
    fi
    [ -n "$DATABASE_CREATED" ] && psql_admin -c "DROP DATABASE IF EXISTS $DATABASE WITH (FORCE)"
    [ -n "$VHOST_CREATED" ] && rabbitmqctl -q delete_vhost "$VHOST" >/dev/null 2>&1
    [ -n "$WORK" ] && rm -rf "$WORK"
    exit "$rc"
}

psql_admin() {
    psql -h 127.0.0.1 -p 5432 -U postgres -d postgres -v ON_ERROR_STOP=1 -qAt "$@" >/dev/null 2>&1
}

sweep_stale() {
    # databases and vhosts of earlier runs whose clean-up could not finish (killed, or the broker
    # down at the time): this script's names only, and only those more than an hour old
    local name born
    while read -r name; do
        born=${name#tempstrong_smoke_}
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
        fi | grep -E '^tempstrong_smoke_[0-9]+_[0-9]+$'
    )
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

sink_python() { # a python with aiosmtpd: the project's .venv (.ci/run makes it), else our own
    if [ -x "$REPO/.venv/bin/python" ] && "$REPO/.venv/bin/python" -c 'import aiosmtpd' 2>/dev/null; then
        echo "$REPO/.venv/bin/python"
        return 0
    fi
    if ! "$STATE/venv/bin/python" -c 'import aiosmtpd' 2>/dev/null; then
        { python3 -m venv "$STATE/venv" &&
            "$STATE/venv/bin/pip" install -q 'aiosmtpd>=1.4,<2'; } >"$WORK/venv.log" 2>&1 || {
            show_log "$WORK/venv.log"
            fail "a venv with aiosmtpd for the SMTP sink"
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

tempstrong_once() { # tempstrong_once ARGS...: a one-shot `tempstrong` in the image, no network
    podman run --rm --network none --read-only --user 10001:10001 --cap-drop=ALL \
        --security-opt no-new-privileges --health-cmd none -v "$WORK/keys:/keys" "$IMAGE" "$@" \
        2>>"$WORK/podman.log"
}

start() { # start NAME COMMAND [podman run options...]: a detached tempstrong process
    local name="tempstrong-$ID-$1" command=$2
    shift 2
    CONTAINERS+=("$name")
    podman run --detach --name "$name" --label tempstrong-image-smoke=1 "${RUN_OPTIONS[@]}" \
        --env-file "$WORK/env/$command.env" "$@" "$IMAGE" "$command" >>"$WORK/podman.log" 2>&1 || {
        show_log "$WORK/podman.log"
        fail "podman run $command"
    }
}

running() { [ "$(podman container inspect --format '{{.State.Running}}' "$1" 2>/dev/null)" = true ]; }

api() { # api METHOD PATH EXPECTED_STATUS [JSON]: the response body on stdout
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

smoke() {
    local started http_port smtp_port metrics_projector metrics_publisher metrics_delivery
    local secret reset fragment0 code name
    local stopped exit_code seconds stop_report=()
    started=$(now)
    pg_isready -h 127.0.0.1 -p 5432 -q || fail "PostgreSQL is not reachable on 127.0.0.1:5432"
    sweep_stale database
    sweep_stale vhost
    rabbitmqctl -q add_vhost "$VHOST" >/dev/null 2>&1 || fail "RabbitMQ: rabbitmqctl add_vhost"
    VHOST_CREATED=1
    rabbitmqctl -q set_permissions -p "$VHOST" guest '.*' '.*' '.*' >/dev/null 2>&1 ||
        fail "RabbitMQ: rabbitmqctl set_permissions"
    psql_admin -c "CREATE DATABASE $DATABASE" || fail "PostgreSQL: CREATE DATABASE $DATABASE"
    DATABASE_CREATED=1

    # dev keys and a token, from the image itself; a policy that sends the code by mail
    mkdir -p "$WORK/keys" "$WORK/env" "$WORK/spool"
    chown 10001:10001 "$WORK/keys" "$WORK/spool"
    chmod 0700 "$WORK/spool"
    tempstrong_once keys --out /keys >"$WORK/keys.log" 2>&1 || {
        show_log "$WORK/keys.log"
        fail "tempstrong keys (in the image)"
    }
    TOKEN=$(tempstrong_once token --keys /keys --client smoke --permissions "${PERMISSIONS[@]}") ||
        fail "tempstrong token (in the image)"
    cat >"$WORK/policies.yaml" <<'EOF'
clients:
  smoke:
    defaultPolicy: tsp-smoke
policies:
  tsp-smoke:
    type: TempStrongPasswordPolicy
    hashAlgorithm: HMAC-SHA256
    sendingMethod: Email
    plainValueExposedToCaller: true
EOF
    chmod 0644 "$WORK/policies.yaml"

    read -r http_port smtp_port metrics_projector metrics_publisher metrics_delivery <<<"$(free_ports 5)"
    API="http://127.0.0.1:$http_port/nevisidm/api/core/v1/smoke"
    local database_url="postgresql://postgres@127.0.0.1:5432/$DATABASE"
    local amqp_url="amqp://guest:guest@127.0.0.1:5672/$VHOST"
    local policy=TEMPSTRONG_POLICY_FILE=/etc/tempstrong/policies.yaml
    local public private hash_key
    public=$(tr -d '\r\n' <"$WORK/keys/delivery-public.key")
    private=$(tr -d '\r\n' <"$WORK/keys/delivery-private.key")
    hash_key=$(tr -d '\r\n' <"$WORK/keys/hash.key")
    # one env file per process, each with only what that process needs (as compose.yaml)
    (
        umask 077
        printf '%s\n' "TEMPSTRONG_DATABASE_URL=$database_url" "TEMPSTRONG_AMQP_URL=$amqp_url" \
            >"$WORK/env/migrate.env"
        printf '%s\n' "TEMPSTRONG_DATABASE_URL=$database_url" "$policy" \
            TEMPSTRONG_JWKS=/run/tempstrong/jwks.json TEMPSTRONG_JWT_ISSUER=tempstrong-dev \
            TEMPSTRONG_JWT_AUDIENCE=tempstrong "TEMPSTRONG_HASH_KEY=$hash_key" \
            "TEMPSTRONG_DELIVERY_PUBLIC_KEY=$public" "TEMPSTRONG_HTTP_PORT=$http_port" \
            >"$WORK/env/api.env"
        printf '%s\n' "TEMPSTRONG_DATABASE_URL=$database_url" \
            "TEMPSTRONG_METRICS_PORT=$metrics_projector" >"$WORK/env/projector.env"
        printf '%s\n' "TEMPSTRONG_DATABASE_URL=$database_url" "TEMPSTRONG_AMQP_URL=$amqp_url" \
            "$policy" "TEMPSTRONG_DELIVERY_PUBLIC_KEY=$public" \
            "TEMPSTRONG_METRICS_PORT=$metrics_publisher" >"$WORK/env/publisher.env"
        printf '%s\n' "TEMPSTRONG_DATABASE_URL=$database_url" "TEMPSTRONG_AMQP_URL=$amqp_url" \
            "$policy" "TEMPSTRONG_DELIVERY_PRIVATE_KEY=$private" \
            "TEMPSTRONG_SMTP_URL=smtp://127.0.0.1:$smtp_port" \
            "TEMPSTRONG_METRICS_PORT=$metrics_delivery" >"$WORK/env/delivery.env"
    )

    "$(sink_python)" -m aiosmtpd -n -l "127.0.0.1:$smtp_port" \
        -c aiosmtpd.handlers.Mailbox "$WORK/mail" >"$WORK/sink.log" 2>&1 &
    SINK_PID=$!
    wait_for_port "$smtp_port" 20 || {
        show_log "$WORK/sink.log"
        fail "the SMTP sink did not listen on 127.0.0.1:$smtp_port"
    }

    # as the Kubernetes pods run: read-only root, a tmpfs on /tmp only, uid 10001, no
    # capabilities, no privilege gain; the host's network, where PostgreSQL and RabbitMQ are
    RUN_OPTIONS=(--read-only --read-only-tmpfs=false --tmpfs "/tmp:rw,nosuid,nodev,size=64m"
        --user 10001:10001 --cap-drop=ALL --security-opt no-new-privileges --network host)
    local policy_mount=(-v "$WORK/policies.yaml:/etc/tempstrong/policies.yaml:ro")

    name="tempstrong-$ID-migrate"
    CONTAINERS+=("$name")
    podman run --name "$name" "${RUN_OPTIONS[@]}" --health-cmd none \
        --env-file "$WORK/env/migrate.env" "$IMAGE" migrate >"$WORK/migrate.log" 2>&1 || {
        exit_code=$?
        show_log "$WORK/migrate.log"
        fail "tempstrong migrate exited with status $exit_code"
    }

    start api api "${policy_mount[@]}" -v "$WORK/keys/jwks.json:/run/tempstrong/jwks.json:ro"
    start projector projector
    start publisher publisher "${policy_mount[@]}"
    start delivery delivery "${policy_mount[@]}" -v "$WORK/spool:/var/spool/tempstrong"

    local deadline=$((SECONDS + 60))
    until curl -fsS -o /dev/null "http://127.0.0.1:$http_port/readyz" 2>/dev/null; do
        for name in "${CONTAINERS[@]:1}"; do running "$name" || fail "$name exited"; done
        [ "$SECONDS" -lt "$deadline" ] || fail "the API was not ready within 60 s"
        sleep 0.5
    done
    # the image's HEALTHCHECK, as podman runs it, in every process
    for name in "${CONTAINERS[@]:1}"; do
        deadline=$((SECONDS + 30))
        until podman healthcheck run "$name" >>"$WORK/health.log" 2>&1; do
            running "$name" || fail "$name exited"
            [ "$SECONDS" -lt "$deadline" ] || {
                show_log "$WORK/health.log" 10
                fail "$name: HEALTHCHECK not healthy within 30 s"
            }
            sleep 1
        done
    done
    say "migrate, api, projector, publisher and delivery up; healthy ($(since "$started") s)"

    # a user with an email address, its credential (whose code goes by mail), then one reset
    api POST /users 201 "{\"extId\":\"smoke-user\",\"email\":\"$EMAIL\"}" >/dev/null
    api POST /users/smoke-user/tempstrong-password 201 >/dev/null
    wait_for_mail 1 >/dev/null || fail "the credential's mail did not arrive"
    reset=$(api POST /users/smoke-user/tempstrong-password/reset 200)
    fragment0=$(python3 -c 'import json, sys; print(json.load(sys.stdin)["tempStrongPassword"])' \
        <<<"$reset") || fail "the reset's answer has no tempStrongPassword: $reset"
    code=$(wait_for_mail 2) || fail "the reset's mail did not arrive"
    secret=$(python3 -c 'import json, sys; print(json.dumps({"password": sys.argv[1]}))' \
        "$fragment0$code")
    api POST /users/smoke-user/tempstrong-password/verify 200 "$secret" >/dev/null
    say "reset -> mail to $EMAIL with its 'Code:' line; fragment0 + code verifies"

    # SIGTERM: each process must stop by itself, with status 0, well before podman's SIGKILL
    for name in "${CONTAINERS[@]:1}"; do
        stopped=$(now)
        podman stop --time "$STOP_LIMIT" "$name" >>"$WORK/podman.log" 2>&1 || fail "podman stop $name"
        seconds=$(since "$stopped")
        exit_code=$(podman container inspect --format '{{.State.ExitCode}}' "$name")
        [ "$exit_code" = 0 ] || fail "$name exited with status $exit_code after SIGTERM"
        awk -v s="$seconds" -v limit="$STOP_LIMIT" 'BEGIN { exit !(s < limit) }' ||
            fail "$name took $seconds s to stop"
        stop_report+=("${name##*-} ${seconds}s")
    done
    say "SIGTERM -> status 0: ${stop_report[*]}"
    SMOKE_SECONDS=$(since "$started")
}

# --------------------------------------------------------------------------------------- main

main() {
    local started size stale
    started=$(now)
    if [ "$(id -u)" != 0 ]; then
        type -P podman >/dev/null || skip "no podman, and not root to install it"
        fail "needs root (debootstrap, rootful podman with its storage under $STATE)"
    fi
    mkdir -p "$STATE"
    ensure_tools
    exec 9>"$STATE/lock"
    flock -w 1800 9 || fail "another image smoke test holds $STATE/lock"
    configure_podman
    WORK=$(mktemp -d /tmp/tempstrong-image-smoke.XXXXXX)
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    # leftovers of a run that was killed before its clean-up
    mapfile -t stale < <(podman ps --all --quiet --filter label=tempstrong-image-smoke=1)
    [ ${#stale[@]} -eq 0 ] || podman rm --force --ignore --time 0 "${stale[@]}" >/dev/null 2>&1 || true

    base_image
    build_image
    smoke
    size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
    say "passed: image $IMAGE $(numfmt --to=iec-i --suffix=B "$size") ($size bytes);" \
        "build ${BUILD_SECONDS} s, smoke ${SMOKE_SECONDS} s, total $(since "$started") s"
}

main "$@"
