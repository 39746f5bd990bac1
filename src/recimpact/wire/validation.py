"""Server-side validation of a request against its botocore input shape.

botocore checks only required members, types and minima on the client; max lengths, patterns, enums and list
maxima reach the wire unchecked, so the server enforces them all, answering InvalidInputException with AWS's
"N validation errors detected" message. Values of members the model marks sensitive are never echoed.

Timestamps are normalized to float epoch seconds on the way in; every other value is passed through unchanged.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import math
import re
import sys
from collections.abc import Callable
from typing import Any

import regex

from recimpact.domain.errors import InvalidInputException
from recimpact.domain.schema import MAX_JSON_NESTING, json_nesting_exceeds
from recimpact.domain.values import matched_pattern, quoted_pattern

# recimpact extension: ``file://`` locations name a local folder, the embedded default for reports and imports.

_MAX_ERRORS_REPORTED = 10


@functools.cache
def compiled_pattern(pattern: str) -> Any:
    """A model pattern compiled as the server matches it (``fullmatch``); public so that tests generate values
    against the same semantics."""
    # AWS patterns are Java regexes matched against the whole value; the ``regex`` module understands their
    # Unicode classes (\p{L}, \p{ASCII}) that the standard ``re`` does not. Patterns without them run on ``re``,
    # several times faster on the short values of every request, with ``re.ASCII``: Java's \d, \w and \s are
    # ASCII classes, so an ARN's account is [0-9], not any script's digits. (``regex.ASCII`` would also narrow
    # \p{L}, and the models' \p patterns use no \d, \w or \s.)
    if "\\p{" not in pattern:
        with contextlib.suppress(re.error):
            return re.compile(pattern, re.ASCII)
    return regex.compile(pattern)


def validate_input(shape: Any, params: Any) -> dict[str, Any]:
    """Return ``params`` normalized, or raise InvalidInputException listing every violation.

    Two passes share one set of rules: a fast pass compiled once per shape accepts valid input (nearly every
    request) without building a path or a message; only input it refuses goes through the explaining pass, which
    collects AWS's messages."""
    if shape is None:
        return {}
    if not isinstance(params, dict):
        raise InvalidInputException("The request body must be a JSON object")
    try:
        return dict(_fast_checker(shape)(params))
    except _Invalid:
        pass
    errors: list[str] = []
    result = _check(shape, params, "", errors)
    if errors:
        count = len(errors)
        shown = "; ".join(errors[:_MAX_ERRORS_REPORTED])
        raise InvalidInputException(f"{count} validation error{'s' if count > 1 else ''} detected: {shown}")
    return dict(result)


def _describe(shape: Any, value: Any, path: str) -> str:
    if shape.metadata.get("sensitive"):
        return f"Value at '{path}'"
    text = str(value)
    if len(text) > 100:
        text = text[:100] + "..."
    return f"Value '{text}' at '{path}'"


def _fail(errors: list[str], shape: Any, value: Any, path: str, constraint: str) -> None:
    errors.append(f"{_describe(shape, value, path)} failed to satisfy constraint: Member must {constraint}")


def _join(path: str, member: str) -> str:
    return f"{path}.{member}" if path else member


def _check(shape: Any, value: Any, path: str, errors: list[str]) -> Any:
    kind = shape.type_name
    checker = _CHECKERS.get(kind)
    if checker is None:
        return value
    return checker(shape, value, path, errors)


def _check_structure(shape: Any, value: Any, path: str, errors: list[str]) -> Any:
    if not isinstance(value, dict):
        _fail(errors, shape, value, path, "be a structure")
        return value
    result: dict[str, Any] = {}
    for name in shape.required_members:
        if value.get(name) is None:
            errors.append(
                f"Value null at '{_join(path, name)}' failed to satisfy constraint: Member must not be null"
            )
    for name, member in shape.members.items():
        if name in value and value[name] is not None:
            result[name] = _check(member, value[name], _join(path, name), errors)
    return result


def _check_size(shape: Any, value: Any, size: int, path: str, errors: list[str]) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and size < low:
        _fail(errors, shape, value, path, f"have length greater than or equal to {low}")
    if high is not None and size > high:
        _fail(errors, shape, value, path, f"have length less than or equal to {high}")


def _check_list(shape: Any, value: Any, path: str, errors: list[str]) -> Any:
    if not isinstance(value, list):
        _fail(errors, shape, value, path, "be a list")
        return value
    _check_size(shape, value, len(value), path, errors)
    return [_check(shape.member, item, f"{path}.{i + 1}.member", errors) for i, item in enumerate(value)]


def _check_map(shape: Any, value: Any, path: str, errors: list[str]) -> Any:
    if not isinstance(value, dict):
        _fail(errors, shape, value, path, "be a map")
        return value
    _check_size(shape, value, len(value), path, errors)
    result = {}
    for key, item in value.items():
        _check(shape.key, key, f"{path}.key", errors)
        result[key] = _check(shape.value, item, f"{path}.{key}", errors)
    return result


def _check_string(shape: Any, value: Any, path: str, errors: list[str]) -> Any:
    if not isinstance(value, str):
        _fail(errors, shape, value, path, "be a string")
        return value
    sized = len(errors)
    _check_size(shape, value, len(value), path, errors)
    enum = shape.metadata.get("enum")
    if enum and value not in enum:
        _fail(errors, shape, value, path, f"satisfy enum value set: [{', '.join(enum)}]")
    pattern = matched_pattern(shape.name, shape.metadata.get("pattern"))
    # A value of the wrong length is refused already and not matched: matching a long value against a pattern with
    # overlapping repetitions (an ARN's ``.*:.*:.+``) can cost its length cubed. (AWS would also count the pattern.)
    if pattern and len(errors) == sized and not compiled_pattern(pattern).fullmatch(value):
        quoted = quoted_pattern(shape.name, shape.metadata.get("pattern"))
        _fail(errors, shape, value, path, f"satisfy regular expression pattern: {quoted}")
    if _is_json_value(shape) and json_nesting_exceeds(value):
        _fail(errors, shape, value, path, f"be a JSON document nested at most {MAX_JSON_NESTING} levels deep")
    return value


def _is_json_value(shape: Any) -> bool:
    """The model marks members that hold a JSON document (``properties``) as ``jsonvalue``: the server decodes
    them, so they are held to the nesting every JSON document the server decodes is held to (a request body's,
    ``wire.protocol``). ItemProperties' 32,000 characters would otherwise nest 16,000 deep, past the decoder's
    recursion limit."""
    return bool(getattr(shape, "serialization", {}).get("jsonvalue"))


def _check_range(shape: Any, value: float, path: str, errors: list[str]) -> None:
    low, high = shape.metadata.get("min"), shape.metadata.get("max")
    if low is not None and value < low:
        _fail(errors, shape, value, path, f"have value greater than or equal to {low}")
    if high is not None and value > high:
        _fail(errors, shape, value, path, f"have value less than or equal to {high}")


# The models' integer is 32-bit and long 64-bit (Smithy's types, and Java's behind AWS's endpoints); a JSON number
# past them is refused here rather than reaching a handler or SQLite (which stores at most 64 bits) as a Python int.
INTEGER_BITS = {"integer": 32, "long": 64}


def integer_bounds(kind: str) -> tuple[int, int]:
    """The smallest and largest value of the model's ``integer`` or ``long``."""
    half = 2 ** (INTEGER_BITS[kind] - 1)
    return -half, half - 1


def _check_integer(shape: Any, value: Any, path: str, errors: list[str]) -> Any:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(errors, shape, value, path, "be an integer")
        return value
    smallest, largest = integer_bounds(shape.type_name)
    if not smallest <= value <= largest:
        _fail(errors, shape, value, path, f"be a {INTEGER_BITS[shape.type_name]}-bit integer")
        return value
    _check_range(shape, value, path, errors)
    return value


def _is_finite_number(value: Any) -> bool:
    """JSON integers have no size limit; ``math.isfinite`` raises OverflowError on those a float cannot hold."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:
        return False


def _check_float(shape: Any, value: Any, path: str, errors: list[str]) -> Any:
    if not _is_finite_number(value):
        _fail(errors, shape, value, path, "be a finite number")
        return value
    _check_range(shape, value, path, errors)
    return value


def _check_boolean(shape: Any, value: Any, path: str, errors: list[str]) -> Any:
    if not isinstance(value, bool):
        _fail(errors, shape, value, path, "be a boolean")
    return value


def _check_timestamp(shape: Any, value: Any, path: str, errors: list[str]) -> Any:
    """Epoch seconds as int or float (botocore sends ints, other SDKs floats); numeric or ISO 8601 strings too."""
    if _is_finite_number(value):
        return float(value)
    if isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            pass
        else:
            if math.isfinite(number):  # float() also reads "nan" and "inf"
                return number
        try:
            parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            pass
        else:
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=dt.UTC)
            return parsed.timestamp()
    _fail(errors, shape, value, path, "be a timestamp in epoch seconds")
    return value


_CHECKERS = {
    "structure": _check_structure,
    "list": _check_list,
    "map": _check_map,
    "string": _check_string,
    "integer": _check_integer,
    "long": _check_integer,
    "float": _check_float,
    "double": _check_float,
    "boolean": _check_boolean,
    "timestamp": _check_timestamp,
}


# ---------------------------------------------------------------------------------------------------------------
# The fast pass: one closure per shape, built once; it normalizes valid input and raises _Invalid on anything the
# explaining pass above would report (which then runs to say what and where).
# ---------------------------------------------------------------------------------------------------------------


class _Invalid(Exception):
    pass


FastChecker = Callable[[Any], Any]
_FAST: dict[int, tuple[Any, FastChecker]] = {}


def _fast_checker(shape: Any) -> FastChecker:
    entry = _FAST.get(id(shape))
    if entry is not None and entry[0] is shape:
        return entry[1]
    built: list[FastChecker] = []
    # A placeholder first, so a shape that contains itself compiles.
    _FAST[id(shape)] = (shape, lambda value: built[0](value))
    checker = _build_fast(shape)
    built.append(checker)
    _FAST[id(shape)] = (shape, checker)
    return checker


def _build_fast(shape: Any) -> FastChecker:
    kind = shape.type_name
    meta = shape.metadata
    low, high = meta.get("min"), meta.get("max")

    def sized(size: int) -> None:
        if (low is not None and size < low) or (high is not None and size > high):
            raise _Invalid

    if kind == "structure":
        required = tuple(shape.required_members)
        members = {name: _fast_checker(member) for name, member in shape.members.items()}

        def structure(value: Any) -> Any:
            if not isinstance(value, dict):
                raise _Invalid
            for name in required:
                if value.get(name) is None:
                    raise _Invalid
            return {
                name: check(item)
                for name, item in value.items()
                if item is not None and (check := members.get(name)) is not None
            }

        return structure
    if kind == "list":
        element = _fast_checker(shape.member)

        def listing(value: Any) -> Any:
            if not isinstance(value, list):
                raise _Invalid
            sized(len(value))
            return [element(item) for item in value]

        return listing
    if kind == "map":
        key_check, value_check = _fast_checker(shape.key), _fast_checker(shape.value)

        def mapping(value: Any) -> Any:
            if not isinstance(value, dict):
                raise _Invalid
            sized(len(value))
            result = {}
            for key, item in value.items():
                key_check(key)
                result[key] = value_check(item)
            return result

        return mapping
    if kind == "string":
        enum = frozenset(meta.get("enum") or ())
        pattern = matched_pattern(shape.name, meta.get("pattern"))
        matcher = compiled_pattern(pattern).fullmatch if pattern else None

        shortest, longest = low or 0, high if high is not None else sys.maxsize

        json_value = _is_json_value(shape)

        # The most called check (several per event): the bounds inline, and no test for what the shape lacks.
        if not enum and matcher is None and not json_value:

            def plain_string(value: Any) -> Any:
                if not isinstance(value, str) or not shortest <= len(value) <= longest:
                    raise _Invalid
                return value

            return plain_string

        def string(value: Any) -> Any:
            if not isinstance(value, str) or not shortest <= len(value) <= longest:
                raise _Invalid
            if (enum and value not in enum) or (matcher is not None and not matcher(value)):
                raise _Invalid
            if json_value and json_nesting_exceeds(value):
                raise _Invalid
            return value

        return string
    if kind in ("integer", "long"):
        type_low, type_high = integer_bounds(kind)
        smallest = type_low if low is None else max(low, type_low)
        largest = type_high if high is None else min(high, type_high)

        def integer(value: Any) -> Any:
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int):
                raise _Invalid
            if not smallest <= value <= largest:
                raise _Invalid
            return value

        return integer
    if kind in ("float", "double"):

        def number(value: Any) -> Any:
            if not _is_finite_number(value):
                raise _Invalid
            if (low is not None and value < low) or (high is not None and value > high):
                raise _Invalid
            return value

        return number
    if kind == "boolean":

        def boolean(value: Any) -> Any:
            if not isinstance(value, bool):
                raise _Invalid
            return value

        return boolean
    if kind == "timestamp":

        def timestamp(value: Any) -> Any:
            if not _is_finite_number(value):
                raise _Invalid  # strings (numeric or ISO 8601) take the explaining pass, which normalizes them
            return float(value)

        return timestamp
    return lambda value: value
