"""Reading the generated AsyncAPI document in tests: channels by exchange and routing key, JSON
Schema validators for a message's payload and headers, and the official parser (Node.js)."""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from tests.support.node import run_node

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "asyncapi.yaml"
REGENERATE = ".venv/bin/python -m service.contracts.asyncapi > docs/asyncapi.yaml"
_BASE = "urn:tempstrong:asyncapi"


@dataclass(frozen=True)
class Message:
    """One message of one channel, with the pointers a validator needs."""

    channel: str
    pointer: str  # of the message object, e.g. /components/messages/created
    spec: dict[str, Any]


class Document:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document
        resource = Resource.from_contents(document, default_specification=DRAFT7)
        self._registry: Registry[Any] = Registry().with_resource(_BASE, resource)

    def resolve(self, node: Any) -> tuple[str | None, Any]:
        """Follows a local `$ref` (once); the pointer it names, and what it names."""
        if isinstance(node, dict) and "$ref" in node:
            pointer = node["$ref"].removeprefix("#")
            return pointer, self.at(pointer)
        return None, node

    def at(self, pointer: str) -> Any:
        node: Any = self.document
        for part in pointer.strip("/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def event_channels(self, exchange: str) -> dict[str, dict[str, Any]]:
        return {
            name: channel
            for name, channel in self.document["channels"].items()
            if channel.get("bindings", {}).get("amqp", {}).get("exchange", {}).get("name")
            == exchange
        }

    def channel_for(self, exchange: str, routing_key: str) -> str:
        """The one channel on `exchange` whose address matches `routing_key`."""
        matches = [
            name
            for name, channel in self.event_channels(exchange).items()
            if address_pattern(channel["address"]).fullmatch(routing_key)
        ]
        assert len(matches) == 1, (exchange, routing_key, matches)
        return matches[0]

    def messages(self, channel: str) -> list[Message]:
        found = []
        for local in self.document["channels"][channel]["messages"].values():
            pointer, spec = self.resolve(local)
            assert pointer is not None, "channel messages are references to components"
            found.append(Message(channel, pointer, spec))
        return found

    def operation_sending(self, channel: str) -> dict[str, Any]:
        (operation,) = [
            o
            for o in self.document["operations"].values()
            if o["action"] == "send" and o["channel"]["$ref"] == f"#/channels/{channel}"
        ]
        return operation  # type: ignore[no-any-return]

    def validator(self, pointer: str) -> Draft7Validator:
        """A validator of the schema at `pointer` (its `$ref`s resolve in the document)."""
        return Draft7Validator(
            {"$ref": f"{_BASE}#{pointer}"},
            registry=self._registry,
            format_checker=FormatChecker(),
        )

    def declared_properties(self, node: Any) -> set[str] | None:
        """The property names a schema declares (through `$ref` and `allOf`); None if open."""
        _, schema = self.resolve(node)
        names: set[str] = set(schema.get("properties", {}))
        for part in schema.get("allOf", []):
            names |= self.declared_properties(part) or set()
        return names or None

    def property_schema(self, node: Any, name: str) -> Any:
        _, schema = self.resolve(node)
        if name in schema.get("properties", {}):
            return schema["properties"][name]
        for part in schema.get("allOf", []):
            found = self.property_schema(part, name)
            if found is not None:
                return found
        return None


def address_pattern(address: str) -> re.Pattern[str]:
    """A channel address with `{parameter}`s as a regular expression over one routing key word."""
    parts = re.split(r"\{[^}]+\}", address)
    return re.compile("[^.]+".join(re.escape(part) for part in parts))


def errors(validator: Draft7Validator, instance: Any) -> list[str]:
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}"
        for e in validator.iter_errors(instance)
    ]


def run_parser(*paths: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """The official parser (`validate-asyncapi.mjs`) on `paths` ("-": `stdin`)."""
    return run_node("validate-asyncapi.mjs", "@asyncapi/parser", *paths, stdin=stdin)


def walk(node: Any) -> Iterator[Any]:
    yield node
    children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else ()
    for child in children:
        yield from walk(child)
