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

A trace context from outside (a caller's headers, a stored event, an AMQP message) is kept only
when valid (`valid_context`: a version 00 `traceparent`; a `tracestate` of at most 32 members of
the W3C grammar, no key twice, at most 512 characters), else dropped, silently. For the API's
requests this is the process's propagator (`ValidatedTraceContext`), so the instrumentation's
extraction hands OpenTelemetry's own parser, which logs what it refuses verbatim, only what was
kept; the arguments of that parser's log lines are withheld all the same (`guard_parser_logs`).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterator, Mapping, MutableMapping, Sequence
from contextlib import contextmanager
from typing import Any

from opentelemetry import propagate, trace
from opentelemetry.context import Context
from opentelemetry.propagators.textmap import (
    CarrierT,
    Getter,
    Setter,
    TextMapPropagator,
    default_getter,
    default_setter,
)
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
# W3C Trace Context, tracestate: comma-separated list-members `key=value`, optional whitespace
_TRACESTATE_KEY = (
    r"[a-z][a-z0-9_*/-]{0,255}"  # simple-key
    r"|[a-z0-9][a-z0-9_*/-]{0,240}@[a-z][a-z0-9_*/-]{0,13}"  # multi-tenant-key
)
_TRACESTATE_VALUE = r"[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]"
TRACESTATE_MEMBER = re.compile(f"({_TRACESTATE_KEY})=(?:{_TRACESTATE_VALUE})", re.ASCII)
MAX_TRACESTATE_MEMBERS = 32
MAX_TRACESTATE_LENGTH = 512
# a tracestate as this service stores and sends it (`valid_tracestate`; no key twice)
_MEMBER = f"(?:{_TRACESTATE_KEY})=(?:{_TRACESTATE_VALUE})"
TRACESTATE_SYNTAX = re.compile(
    f"{_MEMBER}(?:,{_MEMBER}){{0,{MAX_TRACESTATE_MEMBERS - 1}}}", re.ASCII
)
# the loggers of OpenTelemetry's parsers of incoming headers (they quote what they refuse)
PARSER_LOGGERS = (
    "opentelemetry.trace.span",
    "opentelemetry.trace.propagation.tracecontext",
    "opentelemetry.baggage",
    "opentelemetry.baggage.propagation",
)
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
    guard_parser_logs()
    # the instrumentation extracts a request's context with the process's propagator
    earlier_propagator = propagate.get_global_textmap()
    propagate.set_global_textmap(ValidatedTraceContext())
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
        propagate.set_global_textmap(earlier_propagator)
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
    return valid_context(carrier)


def valid_context(value: Any) -> dict[str, str] | None:
    """A stored or received trace context, kept only if well-formed (it is data from outside);
    a `tracestate` that is not valid is dropped, the `traceparent` kept."""
    if not isinstance(value, Mapping):
        return None
    parent = value.get(TRACEPARENT)
    if not isinstance(parent, str) or TRACEPARENT_SYNTAX.fullmatch(parent) is None:
        return None
    state = value.get(TRACESTATE)
    state = valid_tracestate(state) if isinstance(state, str) else None
    return {TRACEPARENT: parent} if state is None else {TRACEPARENT: parent, TRACESTATE: state}


def valid_tracestate(value: str) -> str | None:
    """The tracestate without optional whitespace and empty members, if it is valid: at most
    512 characters, at most 32 members `key=value` of the W3C grammar, no key twice."""
    if len(value) > MAX_TRACESTATE_LENGTH:
        return None
    members = [member for member in (m.strip(" \t") for m in value.split(",")) if member]
    if not members or len(members) > MAX_TRACESTATE_MEMBERS:
        return None
    keys = set()
    for member in members:
        match = TRACESTATE_MEMBER.fullmatch(member)
        if match is None or match.group(1) in keys:
            return None
        keys.add(match.group(1))
    return ",".join(members)


def incoming_context(parents: Sequence[str], states: Sequence[str]) -> dict[str, str] | None:
    """The valid trace context of a message's headers: one `traceparent` (W3C: several are not
    valid), the `tracestate` fields joined as one list (RFC 9110, section 5.3)."""
    if len(parents) != 1:
        return None
    carrier = {TRACEPARENT: parents[0]}
    if states:
        carrier[TRACESTATE] = ",".join(states)
    return valid_context(carrier)


class ValidatedTraceContext(TextMapPropagator):
    """W3C Trace Context that extracts only what `incoming_context` keeps: OpenTelemetry's
    parser (which logs a malformed member verbatim) never sees anything else. It takes the
    place of the default propagators (trace context and baggage): baggage is not used here."""

    def extract(
        self,
        carrier: CarrierT,
        context: Context | None = None,
        getter: Getter[CarrierT] = default_getter,
    ) -> Context:
        valid = incoming_context(
            getter.get(carrier, TRACEPARENT) or (), getter.get(carrier, TRACESTATE) or ()
        )
        if valid is None:
            return context if context is not None else Context()
        return _propagator.extract(valid, context)

    def inject(
        self,
        carrier: CarrierT,
        context: Context | None = None,
        setter: Setter[CarrierT] = default_setter,
    ) -> None:
        _propagator.inject(carrier, context, setter)

    @property
    def fields(self) -> set[str]:
        return _propagator.fields


def guard_parser_logs() -> None:
    """Lets OpenTelemetry's parsers of incoming headers log what happened, never the value it
    was about (idempotent)."""
    for name in PARSER_LOGGERS:
        logging.getLogger(name).addFilter(withhold_arguments)


def withhold_arguments(record: logging.LogRecord) -> bool:
    if record.args:
        record.msg = f"{record.msg} (arguments withheld)"
        record.args = None
    return True


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
