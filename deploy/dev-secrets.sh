#!/bin/sh
# Makes deploy/dev-secrets/ for the compose stack (development keys only; the folder is gitignored):
#   1. `tempstrong keys --out deploy/dev-secrets`: jwks.json, jwt-signing-key.pem,
#      delivery-public.key, delivery-private.key, hash.key, personal-data-keys.json (kept if
#      they exist already);
#   2. the env files compose.yaml reads, one per audience, so that only the delivery worker
#      gets the private key: hash-key.env, delivery-public.env, delivery-private.env,
#      personal-data-keys.env (the keyring's JSON on one line: the API, the worker, migrate).
# Uses `tempstrong` from PATH when installed, else the tempstrong:dev image.
# Usage: sh deploy/dev-secrets.sh [folder]
set -eu

here=$(cd "$(dirname "$0")" && pwd)
out=${1:-"$here/dev-secrets"}
(umask 077 && mkdir -p "$out")
out=$(cd "$out" && pwd)

if [ ! -f "$out/jwks.json" ] || [ ! -f "$out/personal-data-keys.json" ]; then
    if command -v tempstrong >/dev/null 2>&1; then
        tempstrong keys --out "$out" >/dev/null
    else
        docker build -q -f "$here/Dockerfile" -t tempstrong:dev "$here/.." >/dev/null
        docker run --rm --user "$(id -u):$(id -g)" -v "$out:/out" tempstrong:dev \
            keys --out /out >/dev/null
    fi
fi

umask 077
env_file() {
    # env_file VARIABLE SOURCE TARGET: one KEY=value line from a one-line key file
    value=$(tr -d '\r\n' <"$out/$2")
    [ -n "$value" ] || { echo "dev-secrets.sh: $out/$2 is empty" >&2; exit 1; }
    printf '%s=%s\n' "$1" "$value" >"$out/$3"
}
env_file TEMPSTRONG_HASH_KEY hash.key hash-key.env
env_file TEMPSTRONG_DELIVERY_PUBLIC_KEY delivery-public.key delivery-public.env
env_file TEMPSTRONG_DELIVERY_PRIVATE_KEY delivery-private.key delivery-private.env
env_file TEMPSTRONG_PERSONAL_DATA_KEYS personal-data-keys.json personal-data-keys.env

echo "dev secrets in $out"
echo "a token: tempstrong token --keys $out --client '*' --permissions AccessControl.CredentialView ..."
