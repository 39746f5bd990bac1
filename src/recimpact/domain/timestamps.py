"""Times as users write them on a command line or in a query string: epoch seconds, ISO 8601, or relative to
now (``-2h``, ``-14d``)."""

from __future__ import annotations

import datetime as dt
import math
import time

import regex

from recimpact.domain.errors import InvalidInputException

_RELATIVE = regex.compile(r"-(\d+(?:\.\d+)?)([smhdw])")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_time(text: str, now: float | None = None) -> float:
    text = text.strip()
    try:
        number = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(number):  # float() reads "nan" and "inf" too
            raise InvalidInputException(f"Invalid time {text!r}: not a finite number of epoch seconds")
        return number
    match = _RELATIVE.fullmatch(text)
    if match:
        return (time.time() if now is None else now) - float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    try:
        parsed = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInputException(
            f"Invalid time {text!r}: use epoch seconds, ISO 8601 (2026-11-23T10:00:00Z) or a relative time (-2h)"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()
