"""Who may act on which client and user: the authorization rules of the API.

A token's claims become a `Principal`; `authorize` decides from the path alone, so a caller out
of scope is refused (403) before anything is looked up.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass

from .permissions import ALL_CLIENTS, SELF_ADMIN_ROLE, Permission


class Unauthorized(Exception):
    """401: the token is missing or not acceptable. The message is safe to show."""


class Forbidden(Exception):
    """403: a valid token that may not do this."""


@dataclass(frozen=True)
class Principal:
    subject: str
    permissions: frozenset[str]
    clients: frozenset[str]
    roles: frozenset[str]
    self_client: str | None

    @property
    def is_self_admin(self) -> bool:
        return SELF_ADMIN_ROLE in self.roles

    def may_act_on_client(self, client: str) -> bool:
        return ALL_CLIENTS in self.clients or client in self.clients

    def has_permissions(self, required: Iterable[Permission]) -> bool:
        return all(p.value in self.permissions for p in required)

    def is_user_themself(self, client: str, user_ext_id: str | None) -> bool:
        return (
            self.is_self_admin
            and user_ext_id is not None
            and self.self_client == client
            and self.subject == user_ext_id
        )


def authorize(
    principal: Principal,
    client: str,
    user_ext_id: str | None,
    required: Collection[Permission],
    *,
    self_admin: bool,
) -> bool:
    """Returns True when the caller acts as SelfAdmin; raises Forbidden before any lookup."""
    if principal.may_act_on_client(client) and principal.has_permissions(required):
        return False
    if self_admin and principal.is_user_themself(client, user_ext_id):
        return True
    raise Forbidden("The token does not permit this operation on this resource.")
