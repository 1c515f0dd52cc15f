"""What the OpenAPI document says about one route, as data (routes.py holds one per route).

openapi.py renders these into the document: the permission line from `access`, the error
responses from `errors` (plus those every operation can answer), the examples by name.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .requirements import Access

JSON = "application/json"


@dataclass(frozen=True)
class Success:
    """A success response. `examples`: name -> (summary, the name of an example openapi.py
    holds)."""

    description: str
    schema: str | None = None  # the body's schema component; None: no body
    headers: tuple[str, ...] = ()
    media_type: str = JSON
    examples: dict[str, tuple[str, str]] = field(default_factory=dict)


@dataclass(frozen=True)
class Operation:
    operation_id: str
    tag: str
    summary: str
    description: str
    responses: dict[str, Success]
    access: Access | None = None  # None: a system endpoint, no token
    errors: tuple[str, ...] = ()  # beyond those of every API operation
    body: str | None = None  # the request body's schema component
    body_required: bool = True
    reads_body: bool = False  # a body sent is checked (413, 415) even without a schema
    # a parameter component's name, or an inline parameter object
    parameters: tuple[str | dict[str, Any], ...] = ()
    meanings: dict[str, str] = field(default_factory=dict)  # what a code means here
    # the permissions needed when the request names a field: (the field, its access)
    access_with: tuple[str, Access] | None = None
    since: str | None = None  # the nevisIDM release that introduced it
