"""The policy file's document (docs/operations.md): clients, their default and allowed policies, and
the policies with nevisIDM parameter names. Pure: parsing YAML and reading the file is the
composition root's (service/roots/policies.py)."""

from __future__ import annotations

from typing import Any

from .catalog import ClientPolicies, PolicyCatalog
from .policy import POLICY_TYPE, HashAlgorithm, PolicyError, TempStrongPasswordPolicy, parse_policy
from .validation import CLIENT_EXT_ID

MIN_HASH_KEY_BYTES = 16


def parse_policy_document(document: Any, hash_key: bytes | None) -> PolicyCatalog:
    if not isinstance(document, dict):
        raise PolicyError("(top level)", "must be a mapping with 'clients' and 'policies'")
    unknown = set(document) - {"clients", "policies"}
    if unknown:
        raise PolicyError(sorted(unknown)[0], "unknown top-level key")
    policies: dict[str, TempStrongPasswordPolicy] = {}
    raw_policies = document.get("policies") or {}
    if not isinstance(raw_policies, dict):
        raise PolicyError("policies", "must be a mapping of policy names")
    for name, body in raw_policies.items():
        key = f"policies.{name}"
        if not isinstance(body, dict):
            raise PolicyError(key, "must be a mapping of parameters")
        if body.get("type") != POLICY_TYPE:
            if not isinstance(body.get("type"), str):
                raise PolicyError(f"{key}.type", "is required")
            continue  # another kind of policy: not ours to use
        try:
            policies[str(name)] = parse_policy(str(name), body)
        except PolicyError as exc:
            raise PolicyError(f"{key}.{exc.key}", exc.problem) from None
        if policies[str(name)].hash_algorithm is HashAlgorithm.HMAC_SHA256:
            _check_hash_key(f"{key}.hashAlgorithm", hash_key)
    raw_clients = document.get("clients")
    if not isinstance(raw_clients, dict) or not raw_clients:
        raise PolicyError("clients", "must be a non-empty mapping of clientExtIds")
    clients = {
        client: _client_policies(client, body or {}, policies)
        for client, body in raw_clients.items()
    }
    return PolicyCatalog(clients, policies)


def _client_policies(
    client: object, body: object, policies: dict[str, TempStrongPasswordPolicy]
) -> ClientPolicies:
    key = f"clients.{client}"
    if not isinstance(client, str) or not CLIENT_EXT_ID.fullmatch(client):
        raise PolicyError(key, "clientExtId must match [A-Za-z0-9_-]{1,64}")
    if not isinstance(body, dict) or set(body) - {"defaultPolicy", "policies"}:
        raise PolicyError(key, "may only hold defaultPolicy and policies")
    default = body.get("defaultPolicy")
    if default is not None and default not in policies:
        raise PolicyError(
            f"{key}.defaultPolicy", f"names {default!r}, which is not a {POLICY_TYPE}"
        )
    others = body.get("policies") or []
    if not isinstance(others, list) or not all(isinstance(name, str) for name in others):
        raise PolicyError(f"{key}.policies", "must be a list of policy names")
    for name in others:
        if name not in policies:
            raise PolicyError(f"{key}.policies", f"names {name!r}, which is not a {POLICY_TYPE}")
    return ClientPolicies(default=default, others=frozenset(others))


def _check_hash_key(key: str, hash_key: bytes | None) -> None:
    if hash_key is None or len(hash_key) < MIN_HASH_KEY_BYTES:
        raise PolicyError(
            key,
            f"HMAC-SHA256 needs TEMPSTRONG_HASH_KEY of at least {MIN_HASH_KEY_BYTES} bytes",
        )
