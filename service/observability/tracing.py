"""Traces with OpenTelemetry, configured by the standard `OTEL_*` variables.

Off, and free, unless an OTLP endpoint is set (`OTEL_EXPORTER_OTLP_ENDPOINT` or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`; `OTEL_SDK_DISABLED=true` or `OTEL_TRACES_EXPORTER=none`
turn it off again): then the process exports its spans over OTLP/HTTP, the API's aiohttp server
and asyncpg are instrumented, and the W3C trace context travels with each reset: stored in the
event's metadata (`trace_context`), carried by the CloudEvent (the distributed-tracing extension:
`traceparent`, `tracestate`) and by each AMQP message's headers, so one trace runs from the request
through the event store and the publisher to the delivery worker, and consumers can join it.

No span carries a secret: no request or response body, no query parameter values (asyncpg's
instrumentation records statements only), no sealed payload.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Link, Span, SpanContext, SpanKind
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
# the event attribute that holds the W3C trace context of the request that stored the event
TRACE_CONTEXT_ATTRIBUTE = "trace_context"
# W3C Trace Context, version 00 (the only version this service writes)
TRACEPARENT_SYNTAX = re.compile(
    r"00-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}", re.ASCII
)
TRACESTATE_SYNTAX = re.compile(r"[\x20-\x7e]{1,512}", re.ASCII)
# probes and scrapes are not worth a trace each
_NOT_TRACED_URLS = "healthz,readyz,metrics"
OTLP_ENDPOINTS = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")

_propagator = TraceContextTextMapPropagator()
_tracer: trace.Tracer | None = None  # None: tracing is off


def configured(environ: Mapping[str, str] = os.environ) -> bool:
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() == "none":
        return False
    return any(environ.get(name, "").strip() for name in OTLP_ENDPOINTS)


def start_tracing(process: str, version: str, *, api: bool = False) -> Callable[[], None] | None:
    """Sets up export if configured (and, for the API, the aiohttp server and asyncpg
    instrumentations); returns what flushes and stops it.

    The API calls it before it builds its aiohttp application (the server instrumentation
    wraps the application class). Elsewhere the database work is per batch, outside any
    message's span, and would make a trace of its own per query: it is not instrumented."""
    global _tracer
    if not configured():
        return None
    # imported here: a process without tracing never loads the SDK or the exporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.aiohttp_server import AioHttpServerInstrumentor
    from opentelemetry.instrumentation.asyncpg import AsyncPGInstrumentor
    from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES override these
    resource = Resource.create({SERVICE_NAME: f"tempstrong-{process}", SERVICE_VERSION: version})
    provider = TracerProvider(resource=resource)  # OTEL_TRACES_SAMPLER* apply
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))  # OTEL_BSP_*, OTLP_*
    trace.set_tracer_provider(provider)
    server = AioHttpServerInstrumentor()
    database = AsyncPGInstrumentor()  # type: ignore[no-untyped-call]
    if api:
        os.environ.setdefault("OTEL_PYTHON_AIOHTTP_SERVER_EXCLUDED_URLS", _NOT_TRACED_URLS)
        server.instrument(tracer_provider=provider)
        database.instrument(tracer_provider=provider)
    _tracer = provider.get_tracer("tempstrong", version)

    def stop() -> None:
        global _tracer
        _tracer = None
        if api:
            database.uninstrument()
            server.uninstrument()
        provider.shutdown()  # exports what is still buffered

    return stop


def enabled() -> bool:
    return _tracer is not None


def current_context() -> dict[str, str] | None:
    """The W3C trace context of the span in scope (to store with an event), if any."""
    if _tracer is None:
        return None
    carrier: dict[str, str] = {}
    _propagator.inject(carrier)
    return carrier or None


def valid_context(value: Any) -> dict[str, str] | None:
    """A stored or received trace context, kept only if well-formed (it is data from outside)."""
    if not isinstance(value, Mapping):
        return None
    parent = value.get(TRACEPARENT)
    if not isinstance(parent, str) or TRACEPARENT_SYNTAX.fullmatch(parent) is None:
        return None
    state = value.get(TRACESTATE)
    if isinstance(state, str) and TRACESTATE_SYNTAX.fullmatch(state):
        return {TRACEPARENT: parent, TRACESTATE: state}
    return {TRACEPARENT: parent}


def inject(headers: MutableMapping[str, Any]) -> None:
    """Adds the trace context of the span in scope to outgoing message headers."""
    if _tracer is not None:
        _propagator.inject(headers)


def _parent(carrier: Mapping[str, Any] | None) -> Context | None:
    context = valid_context(carrier)
    return _propagator.extract(context) if context is not None else None


def link_to_current() -> Link | None:
    """A link to the span in scope, for work done later on its behalf (a batch)."""
    if _tracer is None:
        return None
    context: SpanContext = trace.get_current_span().get_span_context()
    return Link(context) if context.is_valid else None


@contextmanager
def span(
    name: str,
    kind: SpanKind = SpanKind.INTERNAL,
    *,
    parent: Mapping[str, Any] | None = None,
    links: Sequence[Link | None] = (),
    attributes: Mapping[str, str | int] | None = None,
) -> Iterator[Span | None]:
    """A span in scope for the block (child of `parent`, a W3C carrier, if given, else of the
    span in scope); nothing, and no cost beyond a check, when tracing is off."""
    if _tracer is None:
        yield None
        return
    with _tracer.start_as_current_span(
        name,
        context=_parent(parent) if parent is not None else None,
        kind=kind,
        links=[link for link in links if link is not None],
        attributes=dict(attributes or {}),
    ) as current:
        yield current
