"""When tracing is on, and which trace contexts are carried on (they come from outside)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

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
