"""Which clients exist, which policy each uses by default and which others it may use."""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import NotFound, PolicyNotAllowed
from .policy import BUILTIN_POLICY_EXT_ID, TempStrongPasswordPolicy


@dataclass(frozen=True)
class ClientPolicies:
    """A client's `defaultPolicy` (None: the policy named `default`, else the built-in defaults)
    and the other policies listed in its `policies:`."""

    default: str | None = None
    others: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class PolicyCatalog:
    clients: dict[str, ClientPolicies]
    policies: dict[str, TempStrongPasswordPolicy]

    def knows_client(self, client_ext_id: str) -> bool:
        return client_ext_id in self.clients

    def require_client(self, client_ext_id: str) -> ClientPolicies:
        client = self.clients.get(client_ext_id)
        if client is None:
            raise NotFound(f"Unknown client {client_ext_id!r}.")
        return client

    def default_policy(self, client_ext_id: str) -> TempStrongPasswordPolicy:
        name = self.require_client(client_ext_id).default
        if name is not None:
            return self.policies[name]
        return self.policies.get(BUILTIN_POLICY_EXT_ID) or TempStrongPasswordPolicy()

    def allowed_policy(self, client_ext_id: str, policy_ext_id: str) -> TempStrongPasswordPolicy:
        """A policy a request names: the client's default or one of its `policies:` (else 422).

        The message does not say whether the policy exists for other clients.
        """
        default = self.default_policy(client_ext_id)
        if policy_ext_id == default.ext_id:
            return default
        if policy_ext_id in self.require_client(client_ext_id).others:
            return self.policies[policy_ext_id]
        raise PolicyNotAllowed(
            f"Policy {policy_ext_id!r} is not allowed for client {client_ext_id!r}."
        )

    def policy_in_effect(self, policy_ext_id: str) -> TempStrongPasswordPolicy:
        """The policy a stored credential names; if the file dropped it, the built-in defaults."""
        return self.policies.get(policy_ext_id) or TempStrongPasswordPolicy(ext_id=policy_ext_id)
