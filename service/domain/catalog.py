"""Which clients exist and which policy each uses (the parsed policy file)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import NotFound, UnknownPolicy
from .policy import BUILTIN_POLICY_EXT_ID, TempStrongPasswordPolicy


@dataclass(frozen=True)
class PolicyCatalog:
    client_default_policy: dict[str, str | None]
    policies: dict[str, TempStrongPasswordPolicy]
    other_policy_names: frozenset[str] = field(default_factory=frozenset)

    def knows_client(self, client_ext_id: str) -> bool:
        return client_ext_id in self.client_default_policy

    def default_policy(self, client_ext_id: str) -> TempStrongPasswordPolicy:
        if not self.knows_client(client_ext_id):
            raise NotFound(f"Unknown client {client_ext_id!r}.")
        name = self.client_default_policy[client_ext_id]
        if name is not None:
            return self.policies[name]
        return self.policies.get(BUILTIN_POLICY_EXT_ID) or TempStrongPasswordPolicy()

    def named_policy(self, policy_ext_id: str) -> TempStrongPasswordPolicy:
        """A policy a request names; only TempStrongPasswordPolicy entries qualify (else 422)."""
        policy = self.policies.get(policy_ext_id)
        if policy is None and policy_ext_id == BUILTIN_POLICY_EXT_ID:
            return TempStrongPasswordPolicy()
        if policy is None:
            kind = (
                "is not a TempStrongPasswordPolicy"
                if policy_ext_id in self.other_policy_names
                else "does not exist"
            )
            raise UnknownPolicy(f"Policy {policy_ext_id!r} {kind}.")
        return policy

    def policy_in_effect(self, policy_ext_id: str) -> TempStrongPasswordPolicy:
        """The policy a stored credential names; if the file dropped it, the built-in defaults."""
        try:
            return self.named_policy(policy_ext_id)
        except UnknownPolicy:
            return TempStrongPasswordPolicy(ext_id=policy_ext_id)
