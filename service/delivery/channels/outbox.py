"""Dev mode: Email and SMS written as files (mode 0600) into ./var/outbox instead of being sent."""

from __future__ import annotations

import asyncio
from pathlib import Path

from service.contracts.envelope import SealedDelivery
from service.domain.policy import SendingMethod

from ..failures import TransientFailure
from ..texts import sms_text
from . import Channel
from .email import compose
from .files import write_private_file

DEV_SENDER = "tempstrong-dev@localhost"


class OutboxChannel(Channel):
    """One file per message: `<outbox>/<clientExtId>/<userExtId>-<version>.eml` or `.sms.txt`."""

    def __init__(self, outbox_dir: Path) -> None:
        self._outbox_dir = outbox_dir

    def path_of(self, message: SealedDelivery) -> Path:
        suffix = "sms.txt" if message.sending_method is SendingMethod.SMS else "eml"
        name = f"{message.user_ext_id}-{message.version}.{suffix}"
        return self._outbox_dir / message.client_ext_id / name

    async def send(self, message: SealedDelivery) -> None:
        if message.sending_method is SendingMethod.SMS:
            data = f"To: {message.mobile or '-'}\n\n{sms_text(message)}\n".encode()
        else:
            data = compose(message, DEV_SENDER).data
        path = self.path_of(message)
        try:
            await asyncio.to_thread(write_private_file, path, data)
        except OSError as exc:
            raise TransientFailure(f"outbox not writable ({type(exc).__name__})") from None

    async def close(self) -> None:
        return None
