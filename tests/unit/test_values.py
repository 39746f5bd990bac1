"""The value rules every path shares (``domain.values``): numbers, event times, and the events model's string
constraints, including the patterns recimpact writes differently from the model."""

from __future__ import annotations

import math
import re

import botocore.session
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from recimpact.domain.values import (
    LINEAR_PATTERNS,
    MAX_MAGNITUDE,
    MIN_MAGNITUDE,
    integer_problem,
    number_problem,
    string_rules,
    timestamp_problem,
    value_problem,
)

MODEL_SOURCE_PATTERN = (
    botocore.session.get_session()
    .get_service_model("personalize-events")
    .shape_for("EventAttributionSource")
    .metadata["pattern"]
)


@given(st.text(alphabet=st.sampled_from(" \t~!aZ0é\x7f\x1f"), max_size=12))
@example(" ")
@example(" a ")
@example("a\t")
def test_the_linear_source_pattern_is_the_models_language(text: str) -> None:
    """The override matches exactly what the model's pattern matches (printable ASCII with a visible character),
    without the model's overlapping repetitions that backtrack on a long value failing late."""
    model = re.fullmatch(MODEL_SOURCE_PATTERN, text) is not None
    assert (re.fullmatch(LINEAR_PATTERNS["EventAttributionSource"], text) is not None) == model
    assert (string_rules("INTERACTIONS")["EVENT_ATTRIBUTION_SOURCE"].problem(text) is None) == model


def test_a_long_source_failing_late_is_refused() -> None:
    rule = string_rules("INTERACTIONS")["EVENT_ATTRIBUTION_SOURCE"]
    assert rule.problem("a" * 1023 + "é") == (
        f"does not match MetricAttribution.eventAttributionSource's pattern {MODEL_SOURCE_PATTERN[1:-1]}"
    )
    assert rule.problem("a" * 1024) is None
    assert "maximum of 1024" in str(rule.problem("a" * 1025))


@pytest.mark.parametrize(
    ("value", "refused"),
    [
        (0.0, False),
        (-0.0, False),
        (1.5, False),
        (MAX_MAGNITUDE, False),
        (-MIN_MAGNITUDE, False),
        (math.nextafter(MAX_MAGNITUDE, math.inf), True),
        (math.nextafter(MIN_MAGNITUDE, 0), True),
        (1e308, True),
        (math.inf, True),
        (math.nan, True),
    ],
)
def test_numbers_are_finite_and_in_cloudwatchs_range(value: float, refused: bool) -> None:
    assert (number_problem(value) is not None) == refused
    assert (value_problem("double", value) is not None) == refused


def test_integers_and_event_times() -> None:
    assert integer_problem("int", 2**31 - 1) is None
    assert integer_problem("int", 2**31) is not None
    assert integer_problem("long", -(2**63)) is None
    assert value_problem("long", 2**70) is not None
    assert value_problem("float", 2**1100) is not None  # a JSON integer no double holds
    assert timestamp_problem(0) is None
    assert timestamp_problem(253_402_300_799) is None
    assert timestamp_problem(253_402_300_800) is not None
    assert timestamp_problem(-1) is not None
    assert timestamp_problem(math.nan) is not None
    assert value_problem("string", "file-\udcff") is not None
