"""Times as users write them: epoch seconds, ISO 8601, or relative to now; anything else (nan and inf included,
which float() would read) is InvalidInputException."""

from __future__ import annotations

import pytest

from recimpact.domain.errors import InvalidInputException
from recimpact.domain.timestamps import parse_time

NOW = 1_764_000_000.0


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1764000000", 1_764_000_000.0),
        (" 12.5 ", 12.5),
        ("-2h", NOW - 7200),
        ("-1.5d", NOW - 1.5 * 86400),
        ("2025-11-24T16:00:00Z", 1_764_000_000.0),
        ("2025-11-24T16:00:00", 1_764_000_000.0),  # no zone: UTC
        ("2025-11-24T17:00:00+01:00", 1_764_000_000.0),
    ],
)
def test_times_users_write(text: str, seconds: float) -> None:
    assert parse_time(text, now=NOW) == seconds


@pytest.mark.parametrize("text", ["nan", "NaN", "inf", "-Infinity", "tomorrow", "-2x", ""])
def test_anything_else_is_invalid_input(text: str) -> None:
    with pytest.raises(InvalidInputException, match="Invalid time"):
        parse_time(text, now=NOW)
