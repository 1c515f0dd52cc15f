"""How the event store writes the values of ours that JSON has no type for."""

from __future__ import annotations

import base64
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Transcoding

from ..domain.personal import Encrypted


class EncryptedAsDict(Transcoding):
    """A personal value: its key's id and the sealed bytes (base64), nothing in the clear."""

    type = Encrypted
    name = "personal"

    def encode(self, obj: Encrypted) -> dict[str, str]:
        return {"key": obj.key_id.hex, "sealed": base64.b64encode(obj.sealed).decode("ascii")}

    def decode(self, data: Any) -> Encrypted:
        assert isinstance(data, dict)
        return Encrypted(UUID(hex=data["key"]), base64.b64decode(data["sealed"]))
