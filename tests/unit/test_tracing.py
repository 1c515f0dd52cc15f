"""When tracing is on, and which trace contexts are carried on (they come from outside)."""

from __future__ import annotations

import logging
from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from opentelemetry import trace
from opentelemetry.trace import TraceState

from service.observability import tracing

PARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


def test_off_unless_an_otlp_endpoint_is_set():
    assert not tracing.configured({})
    assert not tracing.configured({"OTEL_SERVICE_NAME": "x", "OTEL_TRACES_SAMPLER": "always_on"})
    assert tracing.configured({"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"})
    assert tracing.configured({"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:4318/v1/traces"})


def test_the_standard_switches_turn_it_off_again():
    endpoint = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}
    assert not tracing.configured({**endpoint, "OTEL_SDK_DISABLED": "true"})
    assert not tracing.configured({**endpoint, "OTEL_TRACES_EXPORTER": "none"})
    assert tracing.configured({**endpoint, "OTEL_SDK_DISABLED": "false"})


def test_off_means_no_context_no_span_and_no_headers():
    assert not tracing.enabled()
    assert tracing.current_context() is None
    assert tracing.link_to_current() is None
    with tracing.span("anything", parent={"traceparent": PARENT}) as span:
        assert span is None
    headers: dict[str, Any] = {}
    tracing.inject(headers)
    assert headers == {}


def test_a_well_formed_context_is_kept():
    assert tracing.valid_context({"traceparent": PARENT}) == {"traceparent": PARENT}
    state = {"traceparent": PARENT, "tracestate": "vendor=abc,other=1"}
    assert tracing.valid_context(state) == state
    # a malformed tracestate is dropped, the parent kept
    assert tracing.valid_context({"traceparent": PARENT, "tracestate": "é"}) == {
        "traceparent": PARENT
    }


def test_malformed_contexts_are_not_carried_on():
    for bad in (
        None,
        PARENT,
        {"traceparent": PARENT.upper()},
        {"traceparent": "00-" + "0" * 32 + "-00f067aa0ba902b7-01"},  # the invalid trace id
        {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-" + "0" * 16 + "-01"},
        {"traceparent": "ff" + PARENT[2:]},
        {"traceparent": PARENT + "-extra"},
        {"traceparent": 1},
        {"tracestate": "a=b"},
    ):
        assert tracing.valid_context(bad) is None, bad


@given(
    st.one_of(
        st.dictionaries(st.sampled_from(["traceparent", "tracestate", "x"]), st.text()),
        st.dictionaries(st.text(), st.one_of(st.text(), st.integers(), st.binary())),
        st.text(),
        st.none(),
    )
)
def test_any_stored_value_gives_a_valid_context_or_none(value):
    context = tracing.valid_context(value)
    if context is not None:
        assert tracing.TRACEPARENT_SYNTAX.fullmatch(context["traceparent"])
        assert set(context) <= {"traceparent", "tracestate"}


# -- an incoming tracestate (at most 32 members and 512 characters) ------------

MEMBERS_32 = ",".join(f"k{i:02d}=v{i}" for i in range(32))
CHARACTERS_512 = "a=" + "x" * 255 + ",b=" + "y" * 252


def test_a_tracestate_within_its_bounds_is_kept():
    assert tracing.valid_tracestate(MEMBERS_32) == MEMBERS_32
    assert len(CHARACTERS_512) == 512 and tracing.valid_tracestate(CHARACTERS_512)
    for kept in ("a=1", "tenant@system=v", "0t@sys=value with spaces", "k_-*/9=!~"):
        assert tracing.valid_tracestate(kept) == kept
    # optional whitespace and empty members are not part of it
    assert tracing.valid_tracestate(" a=1 ,\tb=2,, ") == "a=1,b=2"


def test_a_tracestate_beyond_its_bounds_or_its_grammar_is_dropped_whole():
    for dropped in (
        MEMBERS_32 + ",k32=v32",  # 33 members
        CHARACTERS_512 + "y",  # 513 characters
        ",".join(f"vendor{i:02d}=" + "v" * 245 for i in range(31)),  # valid, but 7.8 KB
        "a=1,b",  # a member without "="
        "a=1,B=2",  # an upper-case key
        "a=1,b=2,a=3",  # a key twice
        "a=" + "x" * 257,  # a value over 256 characters
        "a=é",
        "a=b=c",
        "a=1;b=2",
        "",
        " , ",
    ):
        assert tracing.valid_tracestate(dropped) is None, dropped
        assert tracing.valid_context({"traceparent": PARENT, "tracestate": dropped}) == {
            "traceparent": PARENT
        }


def test_headers_give_one_traceparent_and_the_tracestate_fields_as_one_list():
    assert tracing.incoming_context([PARENT], ["a=1", "b=2"]) == {
        "traceparent": PARENT,
        "tracestate": "a=1,b=2",
    }
    assert tracing.incoming_context([PARENT], []) == {"traceparent": PARENT}
    assert tracing.incoming_context([PARENT, PARENT], ["a=1"]) is None
    assert tracing.incoming_context([], ["a=1"]) is None
    # the fields together are over the bounds
    assert tracing.incoming_context([PARENT], [MEMBERS_32, "z=1"]) == {"traceparent": PARENT}


MALFORMED = "ok=1," + "xyzzy-never-logged/" * 400


def test_the_propagator_keeps_what_is_valid_and_logs_nothing_of_the_rest(caplog):
    propagator = tracing.ValidatedTraceContext()
    with caplog.at_level(logging.DEBUG):
        dropped = propagator.extract({"traceparent": PARENT, "tracestate": MALFORMED})
        kept = propagator.extract({"traceparent": PARENT, "tracestate": "a=1"})
        nothing = propagator.extract({"traceparent": "00-xyzzy", "tracestate": "a=1"})
    assert caplog.records == []
    dropped_context = trace.get_current_span(dropped).get_span_context()
    assert format(dropped_context.trace_id, "032x") == PARENT.split("-")[1]
    assert format(dropped_context.span_id, "016x") == PARENT.split("-")[2]
    assert dropped_context.trace_state.to_header() == ""
    assert trace.get_current_span(kept).get_span_context().trace_state.to_header() == "a=1"
    assert not trace.get_current_span(nothing).get_span_context().is_valid
    assert propagator.fields == {"traceparent", "tracestate"}


def test_opentelemetrys_own_parser_logs_no_header_value_once_guarded(caplog):
    tracing.guard_parser_logs()
    with caplog.at_level(logging.DEBUG):
        TraceState.from_header([MALFORMED])
        TraceState([("a", "b c "), ("Upper", "xyzzy-never-logged")])
    assert caplog.records  # it still says that something was refused
    assert all("xyzzy" not in record.getMessage() for record in caplog.records)
    assert "xyzzy" not in caplog.text


_PRINTABLE = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=20)
_MEMBERS = st.lists(
    st.one_of(st.from_regex(tracing.TRACESTATE_MEMBER, fullmatch=True), _PRINTABLE), max_size=34
)


@given(st.lists(_MEMBERS.map(",".join), min_size=1, max_size=3))
def test_what_is_kept_opentelemetry_parses_whole_and_silently(fields):
    context = tracing.incoming_context([PARENT], fields)
    assert context is not None and context["traceparent"] == PARENT
    state = context.get("tracestate")
    if state is None:
        return
    assert len(state) <= tracing.MAX_TRACESTATE_LENGTH
    assert tracing.TRACESTATE_SYNTAX.fullmatch(state)
    handler = _Records()
    logging.getLogger("opentelemetry").addHandler(handler)
    try:
        parsed = TraceState.from_header([state])
    finally:
        logging.getLogger("opentelemetry").removeHandler(handler)
    assert parsed.to_header() == state and handler.records == []


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
