"""The event store's mapper: the library's, stamping each new event with where it came from.

The request id (`correlation_id`) and, when tracing is on, the W3C trace context
(`trace_context`) in scope when an event is stored are written with it, so the publisher and the
delivery worker can carry them on (service/observability/correlation.py).
"""

from __future__ import annotations

import copy
from typing import Any
from uuid import UUID

from eventsourcing.domain import CanSnapshotAggregate
from eventsourcing.persistence import Mapper, StoredEvent

from ..observability import tracing
from ..observability.correlation import CORRELATION_ATTRIBUTE, correlation_id_of, trace_context_of
from ..observability.logs import request_id_var


class CorrelatingMapper(Mapper[UUID]):
    """Stamps each new event with the request id and the trace context in scope when it is
    stored."""

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        if isinstance(domain_event, CanSnapshotAggregate):
            return super().to_stored_event(domain_event)
        stamps: dict[str, Any] = {}
        correlation_id = request_id_var.get()
        if correlation_id is not None and correlation_id_of(domain_event) is None:
            stamps[CORRELATION_ATTRIBUTE] = correlation_id
        trace_context = tracing.current_context()
        if trace_context is not None and trace_context_of(domain_event) is None:
            stamps[tracing.TRACE_CONTEXT_ATTRIBUTE] = trace_context
        if stamps:
            domain_event = copy.copy(domain_event)
            for name, value in stamps.items():
                object.__setattr__(domain_event, name, value)
        return super().to_stored_event(domain_event)
