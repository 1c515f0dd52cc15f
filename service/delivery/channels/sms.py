"""SMS through an HTTP gateway: POST {"to", "text"} as JSON to TEMPSTRONG_SMS_URL."""

from __future__ import annotations

import aiohttp

from service.contracts.envelope import SealedDelivery
from service.domain.addresses import is_valid_mobile

from ..failures import PermanentFailure, TransientFailure
from ..texts import sms_text
from . import Channel

SMS_TIMEOUT_SECONDS = 15.0


class HttpSmsChannel(Channel):
    def __init__(self, url: str, timeout: float = SMS_TIMEOUT_SECONDS) -> None:
        self._url = url
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def send(self, message: SealedDelivery) -> None:
        if message.mobile is None or not is_valid_mobile(message.mobile):
            raise PermanentFailure("no valid mobile number")
        body = {"to": message.mobile, "text": sms_text(message)}
        try:
            async with self._client().post(self._url, json=body, allow_redirects=False) as response:
                status = response.status
                await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise TransientFailure(f"SMS gateway unavailable ({type(exc).__name__})") from None
        if 200 <= status < 300:
            return
        if status == 429 or status >= 500:
            raise TransientFailure(f"SMS gateway answered {status}")
        raise PermanentFailure(f"SMS gateway answered {status}")

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
