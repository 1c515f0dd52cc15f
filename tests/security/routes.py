"""The route table, as the security tests see it (one source for every suite)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from service.security.permissions import Permission as P
from tests.support.http import BASE

ALL_PERMISSIONS = frozenset(p.value for p in P)


@dataclass(frozen=True)
class Route:
    """One operation: what it needs, what a valid request looks like, what success is."""

    name: str
    method: str
    template: str  # under BASE, with {c} and (optionally) {u}
    permissions: tuple[P, ...]
    self_admin: bool
    needs: str  # "nothing", "user" (without a credential) or "credential"
    success: int  # the status an exactly-authorized, valid request gets
    body: dict[str, Any] | None = field(default=None)

    @property
    def canonical(self) -> str:
        return BASE + self.template.replace("{c}", "{clientExtId}").replace("{u}", "{userExtId}")

    @property
    def has_user(self) -> bool:
        return "{u}" in self.template

    def path(self, client: str, user: str) -> str:
        return BASE + self.template.format(c=client, u=user)

    def request_body(self, new_user: str) -> dict[str, Any] | None:
        if self.body is None:
            return None
        return {k: (new_user if v == "<new-user>" else v) for k, v in self.body.items()}


_CREDENTIAL = "/{c}/users/{u}/tempstrong-password"

ROUTES: tuple[Route, ...] = (
    Route(
        "create-user",
        "POST",
        "/{c}/users",
        (P.USER_CREATE,),
        False,
        "nothing",
        201,
        {"extId": "<new-user>"},
    ),
    Route("get-user", "GET", "/{c}/users/{u}", (P.USER_VIEW,), True, "user", 200),
    Route("delete-user", "DELETE", "/{c}/users/{u}", (P.USER_DELETE,), False, "user", 204),
    Route("create-credential", "POST", _CREDENTIAL, (P.CREDENTIAL_CREATE,), False, "user", 201, {}),
    Route(
        "create-credential-with-state",
        "POST",
        _CREDENTIAL,
        (P.CREDENTIAL_CREATE, P.CREDENTIAL_CHANGE_STATE),
        False,
        "user",
        201,
        {"stateName": "active"},
    ),
    Route("get-credential", "GET", _CREDENTIAL, (P.CREDENTIAL_VIEW,), True, "credential", 200),
    Route(
        "patch-credential",
        "PATCH",
        _CREDENTIAL,
        (P.CREDENTIAL_MODIFY, P.CREDENTIAL_VIEW),
        False,
        "credential",
        200,
        {"version": 1, "modificationComment": "security suite"},
    ),
    Route(
        "reset-credential",
        "POST",
        _CREDENTIAL + "/reset",
        (P.CREDENTIAL_VIEW, P.CREDENTIAL_MODIFY),
        True,
        "credential",
        200,
    ),
    Route(
        "delete-credential",
        "DELETE",
        _CREDENTIAL,
        (P.CREDENTIAL_DELETE,),
        True,
        "credential",
        204,
    ),
    Route(
        "verify-credential",
        "POST",
        _CREDENTIAL + "/verify",
        (P.CREDENTIAL_VERIFY,),
        False,
        "credential",
        401,
        {"password": "not-the-password"},
    ),
    Route(
        "credential-events",
        "GET",
        _CREDENTIAL + "/events",
        (P.CREDENTIAL_VIEW,),
        False,
        "credential",
        200,
    ),
    Route(
        "list-credentials",
        "GET",
        "/{c}/tempstrong-passwords",
        (P.CREDENTIAL_VIEW,),
        False,
        "nothing",
        200,
    ),
)

ROUTE_IDS = [r.name for r in ROUTES]
SELF_ADMIN_ROUTES = tuple(r for r in ROUTES if r.self_admin)
NON_SELF_ADMIN_ROUTES = tuple(r for r in ROUTES if not r.self_admin)
BODY_ROUTES = tuple(r for r in ROUTES if r.body is not None)


def one_short(route: Route) -> Iterable[tuple[str, frozenset[str]]]:
    """For each needed permission: the needed set without it, and every permission without it."""
    needed = frozenset(p.value for p in route.permissions)
    for missing in sorted(needed):
        yield f"needed-minus-{missing}", needed - {missing}
        yield f"all-minus-{missing}", ALL_PERMISSIONS - {missing}


def assert_error_shape(body: Any, status: int) -> None:
    """The `{"errors":[{code,message}]}` shape, with a code that maps to this status."""
    from service.http.errors import STATUS_BY_CODE

    assert isinstance(body, dict) and set(body) == {"errors"}, body
    assert isinstance(body["errors"], list) and body["errors"], body
    for error in body["errors"]:
        assert set(error) == {"code", "message"}, error
        assert isinstance(error["message"], str) and "Traceback" not in error["message"]
        assert STATUS_BY_CODE.get(error["code"]) == status, (error, status)
