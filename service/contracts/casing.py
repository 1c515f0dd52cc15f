"""Both contracts (REST and events) name fields in camelCase; Python names them in snake_case."""

from __future__ import annotations


def camel(name: str) -> str:
    """`last_modified` -> `lastModified`."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
