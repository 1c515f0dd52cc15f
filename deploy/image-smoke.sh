#!/usr/bin/env bash
# Builds deploy/Dockerfile with podman, without any image registry, and smoke-tests the image
# against the local PostgreSQL (127.0.0.1:5432) and RabbitMQ (127.0.0.1:5672). .ci/run calls it
# after the test suite; deploy/README.md ("The image without a registry") explains each choice.
# What it shares with k8s/run-with-podman.sh (podman's set-up, the build, the backends, the mail)
# is in deploy/podman-lib.sh.
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

NAME=image-smoke
SKIPPED="image smoke test"
KIND=smoke
# shellcheck source=deploy/podman-lib.sh
source "$(dirname "$0")/podman-lib.sh"
STOP_LIMIT=10
CONTAINERS=()

[ "${TEMPSTRONG_SMOKE_SKIP:-}" = 1 ] && skip "TEMPSTRONG_SMOKE_SKIP=1"

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
    close_backends
    exit "$rc"
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

smoke() {
    local started http_port smtp_port metrics_projector metrics_publisher metrics_delivery name
    local stopped exit_code seconds stop_report=()
    started=$(now)
    open_backends

    # dev keys and a token, from the image itself; a policy that sends the code by mail
    dev_keys
    mkdir -p "$WORK/env" "$WORK/spool"
    chown 10001:10001 "$WORK/spool"
    chmod 0700 "$WORK/spool"
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
    local public private hash_key keyring
    public=$(tr -d '\r\n' <"$WORK/keys/delivery-public.key")
    private=$(tr -d '\r\n' <"$WORK/keys/delivery-private.key")
    hash_key=$(tr -d '\r\n' <"$WORK/keys/hash.key")
    keyring=$(tr -d '\r\n' <"$WORK/keys/personal-data-keys.json") # the JSON itself, one line
    # one env file per process, each with only what that process reads (service/config.py)
    (
        umask 077
        printf '%s\n' "TEMPSTRONG_DATABASE_URL=$DATABASE_URL" "TEMPSTRONG_AMQP_URL=$AMQP_URL" \
            "TEMPSTRONG_PERSONAL_DATA_KEYS=$keyring" >"$WORK/env/migrate.env"
        printf '%s\n' "TEMPSTRONG_DATABASE_URL=$DATABASE_URL" \
            TEMPSTRONG_POLICY_FILE=/etc/tempstrong/policies.yaml \
            TEMPSTRONG_JWKS=/run/tempstrong/jwks.json TEMPSTRONG_JWT_ISSUER=tempstrong-dev \
            TEMPSTRONG_JWT_AUDIENCE=tempstrong "TEMPSTRONG_HASH_KEY=$hash_key" \
            "TEMPSTRONG_DELIVERY_PUBLIC_KEY=$public" "TEMPSTRONG_HTTP_PORT=$http_port" \
            "TEMPSTRONG_PERSONAL_DATA_KEYS=$keyring" >"$WORK/env/api.env"
        printf '%s\n' "TEMPSTRONG_DATABASE_URL=$DATABASE_URL" \
            "TEMPSTRONG_METRICS_PORT=$metrics_projector" >"$WORK/env/projector.env"
        printf '%s\n' "TEMPSTRONG_DATABASE_URL=$DATABASE_URL" "TEMPSTRONG_AMQP_URL=$AMQP_URL" \
            "TEMPSTRONG_METRICS_PORT=$metrics_publisher" >"$WORK/env/publisher.env"
        printf '%s\n' "TEMPSTRONG_DATABASE_URL=$DATABASE_URL" "TEMPSTRONG_AMQP_URL=$AMQP_URL" \
            "TEMPSTRONG_DELIVERY_PRIVATE_KEY=$private" "TEMPSTRONG_PERSONAL_DATA_KEYS=$keyring" \
            "TEMPSTRONG_SMTP_URL=smtp://127.0.0.1:$smtp_port" \
            "TEMPSTRONG_METRICS_PORT=$metrics_delivery" >"$WORK/env/delivery.env"
    )
    start_sink "$smtp_port"

    # as the Kubernetes pods run: read-only root, a tmpfs on /tmp only, uid 10001, no
    # capabilities, no privilege gain; the host's network, where PostgreSQL and RabbitMQ are
    RUN_OPTIONS=(--read-only --read-only-tmpfs=false --tmpfs "/tmp:rw,nosuid,nodev,size=64m"
        --user 10001:10001 --cap-drop=ALL --security-opt no-new-privileges --network host)

    name="tempstrong-$ID-migrate"
    CONTAINERS+=("$name")
    podman run --name "$name" "${RUN_OPTIONS[@]}" --health-cmd none \
        --env-file "$WORK/env/migrate.env" "$IMAGE" migrate >"$WORK/migrate.log" 2>&1 || {
        exit_code=$?
        show_log "$WORK/migrate.log"
        fail "tempstrong migrate exited with status $exit_code"
    }

    start api api -v "$WORK/policies.yaml:/etc/tempstrong/policies.yaml:ro" \
        -v "$WORK/keys/jwks.json:/run/tempstrong/jwks.json:ro"
    start projector projector
    start publisher publisher
    start delivery delivery -v "$WORK/spool:/var/spool/tempstrong"

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

    reset_ends_as_mail smoke-user

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
    prepare debootstrap
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
