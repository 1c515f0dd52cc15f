#!/usr/bin/env bash
# Runs the dev overlay's workloads as pods on this machine with `podman kube play`, against the
# local PostgreSQL (127.0.0.1:5432) and RabbitMQ (127.0.0.1:5672): the manifests' environment,
# commands, mounts, probes and security contexts must work together, and a reset must end as a
# mail. .ci/run calls it after deploy/image-smoke.sh; k8s/README.md ("Run with podman") explains it.
#
#   bash k8s/run-with-podman.sh
#
# 1. the tools and podman's set-up of deploy/podman-lib.sh (shared with deploy/image-smoke.sh:
#    its state folder, its lock and its image localhost/tempstrong:smoke, rebuilt from the layer
#    cache when the tree changed), plus catatonit (podman's pod infra) and kubectl;
# 2. `kubectl kustomize k8s/overlays/dev`, and what a dev namespace holds besides: the Secrets
#    and the JWKS ConfigMap from k8s/dev-secrets.sh, with dev keys from the image, a database
#    and a RabbitMQ vhost of the run's own and an SMTP sink on the host;
# 3. k8s/podman-adapt.py: the adaptations podman 4.3 needs, each documented there (the Job as a
#    Pod, podman's secret format, the host's network: no `ports:`, probes by port number);
# 4. the migrate Job's pod, to the end (exit 0); then the Deployments (api, projector, publisher,
#    delivery); every probe answers from the host, as the kubelet would ask it;
# 5. every container runs as uid/gid 10001 with a read-only root, no capabilities and
#    no-new-privileges (read from /proc of its process); a user, its credential and a reset
#    through the API under the manifests' own policies (client-123: Email), whose code arrives by
#    mail and verifies with fragment0; no container restarted.
# Everything it creates (pods, volumes, podman secrets, the image's dev tag, database, vhost,
# sink, keys) is removed on exit, failure included.
#
# Without podman and no way to install it, or without kubectl, it prints `k8s run skipped: ...`
# and exits 0, except with CI set, where that is a failure. TEMPSTRONG_K8S_RUN_SKIP=1 skips it on
# purpose. TEMPSTRONG_SMOKE_STATE and TEMPSTRONG_SMOKE_MIRROR as for deploy/image-smoke.sh.
set -euo pipefail

NAME=k8s-run
SKIPPED="k8s run"
KIND=k8s
SKIP_FAILS_UNDER_CI=1
# shellcheck source=deploy/podman-lib.sh
source "$(dirname "$0")/../deploy/podman-lib.sh"
OVERLAY="$REPO/k8s/overlays/dev"
# k8s/base/policies.yaml: this client's default policy sends the code by Email and shows
# fragment0 to the caller
CLIENT=client-123
PART_OF=label=app.kubernetes.io/part-of=tempstrong
PLAY=
TAGGED=

if [ "${TEMPSTRONG_K8S_RUN_SKIP:-}" = 1 ]; then
    printf '%s skipped: TEMPSTRONG_K8S_RUN_SKIP=1\n' "$SKIPPED"
    exit 0
fi

remove_pods() { # the pods of the manifests (only this script makes pods in this storage)
    local pods
    mapfile -t pods < <(podman pod ps --quiet --filter "$PART_OF" 2>/dev/null)
    [ ${#pods[@]} -eq 0 ] || podman pod rm --force --time 0 "${pods[@]}" >/dev/null 2>&1 || true
    return 0
}

remove_podman_objects() { # what the adapted manifests make besides pods: volumes, secrets
    local name
    [ -n "$PLAY" ] || return 0
    while read -r name; do
        podman volume rm --force "$name" >/dev/null 2>&1 || true
    done <"$PLAY/configmaps"
    for name in "$PLAY"/secrets/*; do
        podman secret rm "$(basename "$name")" >/dev/null 2>&1 || true
    done
    return 0
}

containers() { # the manifests' containers (not the pods' infra), by name
    podman ps --all --filter "$PART_OF" --format '{{.Names}}'
}

cleanup() {
    local rc=$? name
    set +e
    trap - EXIT INT TERM
    if [ "$rc" -ne 0 ]; then
        for name in $(containers); do
            printf 'k8s-run: --- logs of %s (%s)\n' "$name" \
                "$(podman container inspect --format '{{.State.Status}}, exit {{.State.ExitCode}}, restarts {{.RestartCount}}' "$name" 2>&1)" >&2
            podman logs "$name" 2>&1 | tail -n 40 | sed 's/^/    /' >&2
        done
    fi
    remove_pods
    remove_podman_objects
    [ -n "$TAGGED" ] && podman untag "$IMAGE" "$TAGGED" >/dev/null 2>&1
    close_backends
    exit "$rc"
}

render_and_adapt() {
    local smtp_port=$1 sms_port=$2
    kubectl kustomize "$OVERLAY" >"$WORK/rendered.yaml" 2>"$WORK/kustomize.log" || {
        show_log "$WORK/kustomize.log"
        fail "kubectl kustomize k8s/overlays/dev"
    }
    # the values a dev namespace's Secrets hold, beside the keys (k8s/dev-secrets.sh)
    (
        umask 077
        printf '%s' "$DATABASE_URL" >"$WORK/keys/database-url"
        printf '%s' "$AMQP_URL" >"$WORK/keys/amqp-url"
        printf '%s' "smtp://127.0.0.1:$smtp_port" >"$WORK/keys/smtp-url"
        # no SMS gateway: no policy of this run sends by SMS
        printf '%s' "http://127.0.0.1:$sms_port/messages" >"$WORK/keys/sms-url"
    )
    sh "$REPO/k8s/dev-secrets.sh" "$WORK/keys" >"$WORK/out-of-band.yaml" 2>"$WORK/dev-secrets.log" || {
        show_log "$WORK/dev-secrets.log"
        fail "k8s/dev-secrets.sh"
    }
    "$(helper_python)" "$REPO/k8s/podman-adapt.py" "$WORK/rendered.yaml" \
        "$WORK/out-of-band.yaml" "$WORK/play" || fail "k8s/podman-adapt.py"
    PLAY="$WORK/play"
}

play() { # play FILE: `podman kube play`, its output kept in the log
    podman kube play "$1" >>"$WORK/play.log" 2>&1 || {
        show_log "$WORK/play.log"
        fail "podman kube play $(basename "$1")"
    }
}

run_migrate() {
    local deadline=$((SECONDS + 120)) container state
    play "$PLAY/migrate.yaml"
    container=$(podman ps --all --filter "$PART_OF" \
        --filter label=app.kubernetes.io/component=migrate --format '{{.Names}}')
    [ -n "$container" ] || fail "the migrate pod has no container"
    # restartPolicy OnFailure: podman restarts it until it exits 0, as the Job would
    until state=$(podman container inspect --format '{{.State.Status}} {{.State.ExitCode}}' \
        "$container") && [ "$state" = "exited 0" ]; do
        [ "$SECONDS" -lt "$deadline" ] || fail "the migrate pod did not complete within 120 s ($state)"
        sleep 0.5
    done
}

wait_until_probes_answer() { # every probe of every Deployment, from the host, within 60 s
    local deployment probe port path deadline=$((SECONDS + 60)) name state
    while read -r deployment probe port path; do
        until curl -fsS -o /dev/null "http://127.0.0.1:$port$path" 2>/dev/null; do
            for name in $(containers); do
                [[ $name == *migrate* ]] && continue
                state=$(podman container inspect --format '{{.State.Running}} {{.RestartCount}}' "$name")
                [ "$state" = "true 0" ] || fail "$name stopped (running, restarts: $state)"
            done
            [ "$SECONDS" -lt "$deadline" ] ||
                fail "$deployment: $probe http://127.0.0.1:$port$path did not answer 2xx within 60 s"
            sleep 0.5
        done
    done <"$PLAY/probes"
}

check_hardening() { # as the securityContexts say, in the running processes (and the migrate pod)
    local name user read_only pid
    for name in $(containers); do
        read -r user read_only pid <<<"$(podman container inspect --format \
            '{{.Config.User}} {{.HostConfig.ReadonlyRootfs}} {{.State.Pid}}' "$name")"
        [ "$user" = 10001:10001 ] || fail "$name runs as $user, not 10001:10001"
        [ "$read_only" = true ] || fail "$name has a writable root file system"
        [ "$pid" != 0 ] || continue # the migrate pod has ended: its settings are all there is
        python3 - "$name" "$pid" <<'EOF' || fail "$name: not as its securityContext says"
import sys
name, pid = sys.argv[1], sys.argv[2]
status = dict(line.split(":", 1) for line in open(f"/proc/{pid}/status").read().splitlines())
problems = []
for key in ("Uid", "Gid"):
    if set(status[key].split()) != {"10001"}:
        problems.append(f"{key} {status[key].split()}, not 10001")
if int(status["CapEff"], 16) or int(status["CapBnd"], 16):
    problems.append(f"capabilities left: effective {status['CapEff'].strip()}, "
                    f"bounding {status['CapBnd'].strip()}")
if status["NoNewPrivs"].strip() != "1":
    problems.append("privileges may be gained (NoNewPrivs 0)")
for line in open(f"/proc/{pid}/mountinfo"):
    fields = line.split()
    if fields[4] == "/" and "ro" not in fields[5].split(","):
        problems.append(f"the root file system is mounted {fields[5]}")
for problem in problems:
    print(f"k8s-run: {name}: {problem}", file=sys.stderr)
sys.exit(1 if problems else 0)
EOF
    done
}

stop_gracefully() { # SIGTERM to each Deployment's pod: its process ends with 0 within the grace
    local deployment grace pod stopped seconds name exit_code report=()
    while read -r deployment grace; do
        pod=$(podman pod ps --quiet --filter "name=^$deployment-pod")
        [ -n "$pod" ] || fail "no pod of $deployment"
        stopped=$(now)
        podman pod stop --time "$grace" "$pod" >>"$WORK/play.log" 2>&1 || fail "podman pod stop $deployment"
        seconds=$(since "$stopped")
        for name in $(podman ps --all --filter "pod=$pod" --filter "$PART_OF" --format '{{.Names}}'); do
            exit_code=$(podman container inspect --format '{{.State.ExitCode}}' "$name")
            [ "$exit_code" = 0 ] || fail "$name exited with status $exit_code after SIGTERM"
        done
        awk -v s="$seconds" -v limit="$grace" 'BEGIN { exit !(s < limit) }' ||
            fail "$deployment took $seconds s to stop (terminationGracePeriodSeconds $grace)"
        report+=("${deployment#tempstrong-} ${seconds}s")
    done <"$PLAY/grace"
    say "SIGTERM -> status 0 within the grace period: ${report[*]}"
}

check_no_restarts() {
    local name restarts
    for name in $(containers); do
        restarts=$(podman container inspect --format '{{.RestartCount}}' "$name")
        [ "$restarts" = 0 ] || fail "$name restarted $restarts time(s)"
    done
}

run() {
    local started smtp_port sms_port port api_port name
    started=$(now)
    open_backends
    dev_keys
    read -r smtp_port sms_port <<<"$(free_ports 2)"
    render_and_adapt "$smtp_port" "$sms_port"
    # leftovers of a run killed before its clean-up
    remove_pods
    remove_podman_objects
    # with the host's network the pods listen on the manifests' own ports
    while read -r port; do
        ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null ||
            fail "port $port is taken on this machine; the pods listen on it (host network)"
    done < <(awk '{ print $3 }' "$PLAY/probes" | sort -u)
    api_port=$(awk '$1 == "tempstrong-api" && $2 == "readinessProbe" { print $3 }' "$PLAY/probes")
    [ -n "$api_port" ] || fail "the API has no readinessProbe"

    TAGGED=$(cat "$PLAY/image")
    podman tag "$IMAGE" "$TAGGED" || fail "podman tag $IMAGE $TAGGED"
    for name in "$PLAY"/secrets/*; do
        podman secret create "$(basename "$name")" "$name" >/dev/null ||
            fail "podman secret create $(basename "$name")"
    done
    start_sink "$smtp_port"

    run_migrate
    say "the migrate Job's pod completed ($(since "$started") s)"
    play "$PLAY/workloads.yaml"
    wait_until_probes_answer
    say "api, projector, publisher, delivery: every probe answers ($(since "$started") s)"
    check_hardening
    say "every container: uid/gid 10001, read-only root, no capabilities, no-new-privileges"

    TOKEN=$(tempstrong_once token --keys /keys --client "$CLIENT" --permissions "${PERMISSIONS[@]}") ||
        fail "tempstrong token (in the image)"
    API="http://127.0.0.1:$api_port/nevisidm/api/core/v1/$CLIENT"
    reset_ends_as_mail k8s-user
    check_no_restarts
    stop_gracefully
    RUN_SECONDS=$(since "$started")
}

main() {
    local started
    started=$(now)
    prepare debootstrap catatonit
    type -P kubectl >/dev/null || skip "no kubectl (bash .ci/install-k8s-tools.sh installs it)"
    trap cleanup EXIT
    trap 'exit 130' INT TERM
    base_image
    build_image
    run
    say "passed: the dev overlay ran; build ${BUILD_SECONDS} s, run ${RUN_SECONDS} s," \
        "total $(since "$started") s"
}

main "$@"
