"""The correlation id: the request id of the HTTP request that caused an event.

It is stored with the event (attribute `correlation_id`), carried by the publisher into the AMQP
messages (the `correlation_id` property and the `x-correlation-id` header), and logged by the
delivery worker, so one id follows a reset from the request to the mail. The W3C trace context,
when tracing is on, is stored and carried the same way (attribute `trace_context`).
"""

from __future__ import annotations

import re
from typing import Any

from . import tracing

CORRELATION_ATTRIBUTE = "correlation_id"
# What an incoming X-Request-Id may be; anything else is replaced, never stored.
# ASCII and at most 128 bytes, so it always fits an AMQP short string (255 bytes).
REQUEST_ID = re.compile(r"[A-Za-z0-9._:+=/-]{1,128}", re.ASCII)


def is_valid_request_id(value: str) -> bool:
    return REQUEST_ID.fullmatch(value) is not None


def correlation_id_of(domain_event: Any) -> str | None:
    """The stored correlation id, if it is one (events stored before the syntax was enforced
    may hold anything; such a value is not carried on)."""
    value = getattr(domain_event, CORRELATION_ATTRIBUTE, None)
    return value if isinstance(value, str) and is_valid_request_id(value) else None


def trace_context_of(domain_event: Any) -> dict[str, str] | None:
    """The W3C trace context stored with the event (observability/tracing.py), if well-formed."""
    return tracing.valid_context(getattr(domain_event, tracing.TRACE_CONTEXT_ATTRIBUTE, None))
