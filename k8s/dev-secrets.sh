#!/bin/sh
# Prints what the manifests reference and a namespace must hold before they run: the Secrets and
# the ConfigMap tempstrong-jwks, for a development namespace, from the files in DIR
# (docs/operations.md, "Secrets"). k8s/run-with-podman.sh uses it too.
#
#   tempstrong keys --out DIR        # jwks.json, hash.key, delivery-public.key, delivery-private.key,
#                                    # personal-data-keys.json
#   # and, one value each: DIR/database-url, DIR/amqp-url, DIR/smtp-url, DIR/sms-url
#   sh k8s/dev-secrets.sh DIR | kubectl -n tempstrong-dev apply -f -
#
# Development keys only: production creates each object from its own files (docs/operations.md).
# Needs kubectl (objects made with `kubectl create ... --dry-run=client`, nothing is sent).
set -eu

[ $# -eq 1 ] || { echo "usage: sh k8s/dev-secrets.sh DIR" >&2; exit 2; }
dir=$1
for file in jwks.json hash.key delivery-public.key delivery-private.key personal-data-keys.json \
    database-url amqp-url smtp-url sms-url; do
    [ -s "$dir/$file" ] || { echo "dev-secrets.sh: $dir/$file is missing or empty" >&2; exit 1; }
done

object() { # object KIND NAME KEY=FILE...: one object, YAML, as `kubectl create` makes it
    kind=$1 name=$2
    shift 2
    for pair; do # each KEY=FILE becomes --from-file=KEY=DIR/FILE
        set -- "$@" --from-file="${pair%%=*}=$dir/${pair#*=}"
        shift
    done
    echo ---
    # shellcheck disable=SC2086 # KIND is one or two words: configmap, secret generic
    kubectl create $kind "$name" "$@" --dry-run=client -o yaml
}

# the token issuer's public keys: not secret, so a ConfigMap
object configmap tempstrong-jwks jwks.json=jwks.json
object "secret generic" tempstrong-db database-url=database-url
object "secret generic" tempstrong-amqp amqp-url=amqp-url
object "secret generic" tempstrong-hash-key hash-key=hash.key
object "secret generic" tempstrong-delivery-public public-key=delivery-public.key
object "secret generic" tempstrong-delivery-private private-keys=delivery-private.key
object "secret generic" tempstrong-personal-data-keys keyring=personal-data-keys.json
object "secret generic" tempstrong-gateways smtp-url=smtp-url sms-url=sms-url
