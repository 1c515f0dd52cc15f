"""Enum-valued aggregate attributes stored as plain strings.

Snapshots and read-model rows transcode an aggregate's `__dict__` to JSON, where a StrEnum comes
back as a plain `str`. Storing the value and converting on access keeps both exact.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Generic, TypeVar, overload

E = TypeVar("E", bound=StrEnum)


class _StoredAsValue(Generic[E]):
    """Keeps the enum's value under `_<name>` in the instance's `__dict__`."""

    def __init__(self, enum: type[E]) -> None:
        self._enum = enum
        self._storage = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self._storage = f"_{name}"


class EnumAttribute(_StoredAsValue[E]):
    @overload
    def __get__(self, obj: None, objtype: Any = None) -> EnumAttribute[E]: ...
    @overload
    def __get__(self, obj: object, objtype: Any = None) -> E: ...
    def __get__(self, obj: object | None, objtype: Any = None) -> E | EnumAttribute[E]:
        if obj is None:
            return self
        return self._enum(obj.__dict__[self._storage])

    def __set__(self, obj: object, value: E) -> None:
        obj.__dict__[self._storage] = self._enum(value).value


class OptionalEnumAttribute(_StoredAsValue[E]):
    @overload
    def __get__(self, obj: None, objtype: Any = None) -> OptionalEnumAttribute[E]: ...
    @overload
    def __get__(self, obj: object, objtype: Any = None) -> E | None: ...
    def __get__(
        self, obj: object | None, objtype: Any = None
    ) -> E | OptionalEnumAttribute[E] | None:
        if obj is None:
            return self
        raw = obj.__dict__.get(self._storage)
        return None if raw is None else self._enum(raw)

    def __set__(self, obj: object, value: E | None) -> None:
        obj.__dict__[self._storage] = None if value is None else self._enum(value).value
