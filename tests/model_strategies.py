"""Hypothesis strategies for request bodies, generated from botocore's input shapes.

Each body is drawn either *valid-looking* (every member within its shape's type, length, range, pattern and enum,
so that it gets past validation to the handler: real ARNs where the caller supplies them, edge lengths and edge
numbers, JSON documents inside strings) or *invalid* (all members valid but one, which breaks exactly one
constraint of its shape: a length of min-1 or max+1, a pattern or enum it does not match, a number out of range or
past the type's bits, NaN and Infinity as JSON tokens, a lone surrogate, a wrong JSON type, deep nesting, a missing
required member). The server must refuse every invalid body; a valid-looking one may still be refused by a rule
the shapes cannot express, but never with a 5xx.

Patterns are matched as the server matches them (Java semantics: ASCII classes, the whole value), with the
server's own matcher so that both sides agree on what "matching" means.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

from recimpact.domain.schema import MAX_JSON_NESTING, json_nesting_exceeds
from recimpact.domain.values import matched_pattern
from recimpact.wire.validation import compiled_pattern, integer_bounds

Strategy = st.SearchStrategy[Any]

# Longest string or list a valid-looking body generates freely; the edge cases (exactly the maximum) go beyond.
_FREE_LENGTH = 40
_FREE_ITEMS = 4
_EDGE_ITEMS = 30  # lists with a larger maximum are not filled to it (Tags: 200)
_DEEP = 5_000


@dataclass(frozen=True)
class Raw:
    """A JSON token ``json.dumps`` does not write: ``1e999``, ``-0``, ``1E2``, a document nested thousands deep."""

    text: str


@dataclass(frozen=True)
class Body:
    params: Any
    violation: str | None  # what the body breaks, for the assertion message; None when valid-looking
    ascii_only: bool = True  # False: non-ASCII text as raw UTF-8 (lone surrogates then as their raw bytes)

    @property
    def invalid(self) -> bool:
        return self.violation is not None

    def encode(self) -> bytes:
        raws: list[str] = []

        def raw(value: Any) -> str:
            if not isinstance(value, Raw):
                raise TypeError(type(value))
            raws.append(value.text)
            return f"\x00raw{len(raws) - 1}\x00"

        text = json.dumps(self.params, default=raw, ensure_ascii=self.ascii_only)
        for index, token in enumerate(raws):
            text = text.replace(f'"\\u0000raw{index}\\u0000"', token)
        return text.encode("utf-8", "surrogatepass")


def matcher(shape_name: str, pattern: str) -> Callable[[str], Any]:
    """The server's own matcher for a shape's pattern (``wire.validation``), so both sides agree on matching."""
    return compiled_pattern(matched_pattern(shape_name, pattern)).fullmatch


# Unicode classes the ``re`` module (and so ``st.from_regex``) lacks, as explicit sets that stay inside them.
_PROPERTY_CLASSES = {
    r"\p{ASCII}": r"\x00-\x7f",
    r"\p{L}": "a-zA-Z\u00e9\u00df\u4e2d\u0436",
    r"\p{Z}": " \u00a0\u3000",
    r"\p{N}": "0-9\u0661\u2167",
}


def _generating_regex(pattern: str) -> re.Pattern[str]:
    """``pattern`` with its \\p{...} classes spelled out, for ``st.from_regex``: inside a character class as its
    members, outside as a class of its own."""
    out: list[str] = []
    in_class = False
    index = 0
    while index < len(pattern):
        name = next((n for n in _PROPERTY_CLASSES if pattern.startswith(n, index)), None)
        if name is not None:
            members = _PROPERTY_CLASSES[name]
            out.append(members if in_class else f"[{members}]")
            index += len(name)
            continue
        char = pattern[index]
        if char == "\\":
            out.append(pattern[index : index + 2])
            index += 2
            continue
        in_class = (in_class or char == "[") and char != "]"
        out.append(char)
        index += 1
    return re.compile("".join(out), re.ASCII)


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


class ShapeStrategies:
    """Strategies for botocore shapes. ``real`` maps a member name to values of real resources (ARNs, tracking
    ids, item ids; a list's elements go by the list's name, a map's keys by ``<name>.key``); ``hints`` maps a shape
    name to a strategy of meaningful content (schemas, metric expressions, ``properties`` documents). Both are
    drawn often in valid-looking bodies."""

    def __init__(
        self,
        real: Mapping[str, Sequence[Any]],
        hints: Mapping[str, Strategy],
        hinted_only: frozenset[str] = frozenset(),
    ) -> None:
        """``hinted_only``: shapes whose valid-looking values come from their hint alone (locations the server
        would read or write: never a path made up at random)."""
        self.real = real
        self.hints = hints
        self.hinted_only = hinted_only

    # -- bodies -------------------------------------------------------------------------------------------------

    def body(self, shape: Any) -> st.SearchStrategy[Body]:
        """A request body for an operation with input ``shape`` (None: an operation without input)."""
        if shape is None:
            return st.just(Body({}, None))

        @st.composite
        def build(draw: st.DrawFn) -> Body:
            ascii_only = draw(st.booleans())
            if draw(st.integers(0, 2)) == 0:
                return Body(draw(self.valid(shape, "")), None, ascii_only)
            value, violation = draw(self.invalid(shape, ""))
            return Body(value, violation, ascii_only)

        return build()

    # -- valid-looking values ------------------------------------------------------------------------------------

    def valid(self, shape: Any, member: str) -> Strategy:
        generic = self._valid(shape, member)
        real = self.real.get(member)
        if real and shape.type_name in ("timestamp", "integer", "long", "float", "double"):
            return st.one_of(st.sampled_from(real), generic)  # strings weigh their real values themselves
        return generic

    @functools.cache  # noqa: B019  (one instance per test module; shapes are botocore's cached models)
    def _valid(self, shape: Any, member: str) -> Strategy:
        kind = shape.type_name
        if kind == "structure":
            return self._valid_structure(shape)
        if kind == "list":
            low, high = _bounds(shape)
            element = self.valid(shape.member, member)
            options = [st.lists(element, min_size=low, max_size=min(high, max(low, _FREE_ITEMS)))]
            if high <= _EDGE_ITEMS and high > _FREE_ITEMS:
                options.append(st.lists(element, min_size=high, max_size=high))
            return st.one_of(options)
        if kind == "map":
            low, high = _bounds(shape)
            return st.dictionaries(
                self.valid(shape.key, member + ".key"),
                self.valid(shape.value, member),
                min_size=low,
                max_size=min(high, max(low, _FREE_ITEMS)),
            )
        if kind == "string":
            return self._valid_string(shape, member)
        if kind in ("integer", "long"):
            return _valid_integer(shape)
        if kind in ("float", "double"):
            return _valid_float(shape)
        if kind == "boolean":
            return st.booleans()
        if kind == "timestamp":
            return _VALID_TIMESTAMPS
        return st.none()

    def _valid_structure(self, shape: Any) -> Strategy:
        """Every required member and a few optional ones (hypothesis draws short lists most often, so most bodies
        name few options, as most callers do, and some name many)."""
        required = [name for name in shape.members if name in shape.required_members]
        optional = [name for name in shape.members if name not in shape.required_members]
        if not shape.members:
            return st.just({})

        @st.composite
        def build(draw: st.DrawFn) -> dict[str, Any]:
            chosen = draw(st.lists(st.sampled_from(optional), unique=True)) if optional else []
            return {name: draw(self.valid(shape.members[name], name)) for name in required + chosen}

        return build()

    def _valid_string(self, shape: Any, member: str) -> Strategy:
        meta = shape.metadata
        if meta.get("enum"):
            return st.sampled_from(meta["enum"])
        conforms = functools.partial(string_conforms, shape)
        hint = self.hints.get(shape.name)
        if hint is not None and shape.name in self.hinted_only:
            return hint.filter(conforms)
        # Real values first, then meaningful content, then anything the shape allows: hypothesis draws the first
        # branch of ``one_of`` most often, and a body that names real resources reaches the handler's logic.
        options: list[Strategy] = []
        real = [value for value in self.real.get(member, ()) if conforms(value)]
        if real:
            options += [st.sampled_from(real)] * 3
        if hint is not None:
            options += [hint.filter(conforms)] * 2
        options.append(self._generated_string(shape))
        return st.one_of(options)

    def _generated_string(self, shape: Any) -> Strategy:
        if shape.metadata.get("enum"):
            return st.sampled_from(shape.metadata["enum"])
        low, high = _bounds(shape)
        pattern = shape.metadata.get("pattern")
        conforms = functools.partial(string_conforms, shape)
        if pattern is None:
            free: Strategy = st.text(min_size=low, max_size=min(high, max(low, _FREE_LENGTH)))
        else:
            effective = matched_pattern(shape.name, pattern)
            free = st.from_regex(_generating_regex(effective), fullmatch=True)
        edges = [filler * size for size in {low, high} if (filler := _filler(shape, size)) is not None]
        options = [free.filter(conforms)]
        if edges:
            options.append(st.sampled_from(edges))
        return st.one_of(options)

    # -- invalid values: (value, what it breaks) -----------------------------------------------------------------

    def invalid(self, shape: Any, member: str) -> st.SearchStrategy[tuple[Any, str]]:
        return self._invalid(shape, member)

    @functools.cache  # noqa: B019
    def _invalid(self, shape: Any, member: str) -> st.SearchStrategy[tuple[Any, str]]:
        kind = shape.type_name
        where = member or "the body"
        wrong = _wrong_type(kind).map(lambda value: (value, f"{where}: not a {kind}"))
        if kind == "structure":
            return st.one_of(self._invalid_structure(shape, member), wrong)
        if kind == "list":
            return st.one_of(self._invalid_list(shape, member), wrong)
        if kind == "map":
            return st.one_of(self._invalid_map(shape, member), wrong)
        if kind == "string":
            return st.one_of(self._invalid_string(shape, member), wrong)
        if kind in ("integer", "long"):
            return st.one_of(_invalid_integer(shape, where), wrong)
        if kind in ("float", "double"):
            return st.one_of(_invalid_float(shape, where), wrong)
        if kind == "timestamp":
            return st.one_of(_INVALID_TIMESTAMPS.map(lambda value: (value, f"{where}: not a time")), wrong)
        return wrong

    def _invalid_structure(self, shape: Any, member: str) -> st.SearchStrategy[tuple[Any, str]]:
        names = list(shape.members)
        required = list(shape.required_members)
        if not names:
            return _wrong_type("structure").map(
                lambda value: (value, f"{member or 'the body'}: not an object")
            )

        @st.composite
        def build(draw: st.DrawFn) -> tuple[Any, str]:
            value = dict(draw(self.valid(shape, member)))
            if required and draw(st.integers(0, 3)) == 0:
                missing = draw(st.sampled_from(required))
                if draw(st.booleans()):
                    value.pop(missing, None)
                else:
                    value[missing] = None
                return value, f"{_join(member, missing)}: required, missing"
            name = draw(st.sampled_from(names))
            bad, why = draw(self.invalid(shape.members[name], _join(member, name)))
            value[name] = bad
            return value, why

        return build()

    def _invalid_list(self, shape: Any, member: str) -> st.SearchStrategy[tuple[Any, str]]:
        low, high = _bounds(shape)
        element = self.valid(shape.member, member)
        options: list[st.SearchStrategy[tuple[Any, str]]] = []
        if low > 0:
            options.append(
                st.lists(element, min_size=low - 1, max_size=low - 1).map(lambda v: (v, f"{member}: too few"))
            )
        if high < _UNBOUNDED:
            options.append(
                element.map(lambda item: ([item] * (high + 1), f"{member}: {high + 1} items, over {high}"))
            )

        @st.composite
        def bad_element(draw: st.DrawFn) -> tuple[Any, str]:
            fewest = max(low, 1) - 1
            items = draw(st.lists(element, min_size=fewest, max_size=max(fewest, min(high, _FREE_ITEMS) - 1)))
            bad, why = draw(self.invalid(shape.member, f"{member}.member"))
            items.insert(draw(st.integers(0, len(items))), bad)
            return items, why

        if high >= 1:
            options.append(bad_element())
        return st.one_of(options)

    def _invalid_map(self, shape: Any, member: str) -> st.SearchStrategy[tuple[Any, str]]:
        high = _bounds(shape)[1]
        options: list[st.SearchStrategy[tuple[Any, str]]] = []
        value = self.valid(shape.value, member)
        if high < _UNBOUNDED:
            options.append(
                value.map(
                    lambda item: ({f"k{i}": item for i in range(high + 1)}, f"{member}: over {high} keys")
                )
            )

        @st.composite
        def bad_entry(draw: st.DrawFn) -> tuple[Any, str]:
            if draw(st.booleans()):
                key, why = draw(self._invalid_string(shape.key, f"{member}.key"))
                return {key: draw(value)}, why
            bad, why = draw(self.invalid(shape.value, f"{member}.value"))
            return {draw(self.valid(shape.key, member + ".key")): bad}, why

        options.append(bad_entry())
        return st.one_of(options)

    def _invalid_string(self, shape: Any, member: str) -> st.SearchStrategy[tuple[Any, str]]:
        meta = shape.metadata
        low, high = _bounds(shape)
        options: list[st.SearchStrategy[tuple[Any, str]]] = []
        if low > 0:
            options.append(st.just(("a" * (low - 1), f"{member}: {low - 1} characters, under {low}")))
        if high < _UNBOUNDED:
            options.append(
                st.sampled_from("a0-_é").map(lambda c: (c * (high + 1), f"{member}: {high + 1} characters"))
            )
        pattern = meta.get("pattern")
        if pattern is not None:
            match = matcher(shape.name, pattern)
            candidates = st.one_of(
                st.text(max_size=min(high, 30)),
                st.sampled_from(["arn:aws:personalize:::", "arn:aws\u0661:personalize:r:1:x/y", "١٢", "a b"]),
                self._generated_string(shape).map(lambda value: value + "\n"),
            )
            options.append(
                candidates.filter(
                    lambda value: _is_text(value) and low <= len(value) <= high and not match(value)
                ).map(lambda value: (value, f"{member}: does not match {pattern}"))
            )
        if meta.get("enum"):
            enum = set(meta["enum"])
            options.append(
                st.one_of(st.sampled_from([e.lower() for e in enum] + ["", " "]), st.text(max_size=12))
                .filter(lambda value: value not in enum)
                .map(lambda value: (value, f"{member}: not in the enum"))
            )
        if is_json_value(shape):
            deep = MAX_JSON_NESTING + 1
            options.append(st.just(("[" * deep + "]" * deep, f"{member}: JSON nested {deep} deep")))
        surrogate = st.tuples(self._generated_string(shape), st.sampled_from(["\udcff", "\ud800", "\udfff"]))
        options.append(
            surrogate.map(lambda pair: (pair[0][: max(0, high - 1)] + pair[1], f"{member}: lone surrogate"))
        )
        return st.one_of(options)


def string_conforms(shape: Any, value: Any) -> bool:
    """``value`` meets every constraint of the string ``shape`` (as the server checks them)."""
    if not isinstance(value, str) or not _is_text(value):
        return False
    meta = shape.metadata
    low, high = _bounds(shape)
    if not low <= len(value) <= high:
        return False
    if meta.get("enum") and value not in meta["enum"]:
        return False
    if is_json_value(shape) and json_nesting_exceeds(value):
        return False
    pattern = meta.get("pattern")
    return pattern is None or bool(matcher(shape.name, pattern)(value))


def is_json_value(shape: Any) -> bool:
    """A member the model marks as holding a JSON document (``properties``): the server decodes it, and refuses
    one nested more than ``MAX_JSON_NESTING`` deep."""
    return bool(getattr(shape, "serialization", {}).get("jsonvalue"))


_UNBOUNDED = 10**9


def _bounds(shape: Any) -> tuple[int, int]:
    meta = shape.metadata
    return int(meta.get("min", 0)), int(meta.get("max", _UNBOUNDED))


def _join(path: str, member: str) -> str:
    return f"{path}.{member}" if path else member


def _filler(shape: Any, size: int) -> str | None:
    """A character that repeated ``size`` times conforms to the shape (for edge lengths), if there is one."""
    if size == 0 or size >= _UNBOUNDED:
        return None
    return next((c for c in "aA0x_" if string_conforms(shape, c * size)), None)


def _valid_integer(shape: Any) -> Strategy:
    type_low, type_high = integer_bounds(shape.type_name)
    meta = shape.metadata
    low, high = max(meta.get("min", type_low), type_low), min(meta.get("max", type_high), type_high)
    edges: list[Any] = [low, high, float(low), float(high)]  # 5.0 is the integer 5 in JSON
    if low <= 0 <= high:
        edges.append(Raw("-0"))
    if low <= 100 <= high:
        edges.append(Raw("1E2"))
    return st.one_of(st.integers(low, min(high, max(low, 0) + 1000)), st.sampled_from(edges))


def _valid_float(shape: Any) -> Strategy:
    meta = shape.metadata
    low, high = meta.get("min"), meta.get("max")
    edges = [1e308, -1e308, 5e-324, -5e-324, -0.0, 0, 2**64, 2.0**-360, 2.0**360, 1e-300]
    return st.one_of(
        st.floats(low, high, allow_nan=False, allow_infinity=False),
        st.sampled_from([e for e in edges if (low is None or e >= low) and (high is None or e <= high)]),
    )


def _invalid_integer(shape: Any, where: str) -> st.SearchStrategy[tuple[Any, str]]:
    type_low, type_high = integer_bounds(shape.type_name)
    meta = shape.metadata
    low, high = max(meta.get("min", type_low), type_low), min(meta.get("max", type_high), type_high)
    values: list[Any] = [
        low - 1,
        high + 1,
        2**64,
        -(2**64),
        10**400,
        1.5,
        float("nan"),
        float("inf"),
        Raw("1e999"),
    ]
    return st.sampled_from(values).map(
        lambda value: (value, f"{where}: {value!r} out of range or not an integer")
    )


def _invalid_float(shape: Any, where: str) -> st.SearchStrategy[tuple[Any, str]]:
    meta = shape.metadata
    values: list[Any] = [float("nan"), float("inf"), float("-inf"), Raw("1e999"), Raw("-1e999"), 10**400]
    if meta.get("min") is not None:
        values.append(meta["min"] - 0.5)
    if meta.get("max") is not None:
        values.append(meta["max"] + 0.5)
    return st.sampled_from(values).map(
        lambda value: (value, f"{where}: {value!r} not a finite number in range")
    )


_VALID_TIMESTAMPS = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(-(2**70), 2**70).filter(lambda v: abs(v) < 2**1023),
    st.sampled_from(
        [0, -0.0, 5e-324, 1e20, 1e300, 2**64, 1700000000, 1700000000.5, 253402300799, 253402300800]
    ),
    st.sampled_from(["1e300", "1700000000", "2024-05-01T12:00:00Z", "2024-05-01T12:00:00+02:00", "0"]),
)
_INVALID_TIMESTAMPS = st.sampled_from(
    ["", "yesterday", "nan", "inf", "-Infinity", "1e999", float("nan"), float("inf"), Raw("1e999"), 10**400]
)

_DEEP_LIST = Raw("[" * _DEEP + "]" * _DEEP)
_DEEP_OBJECT = Raw('{"a":' * _DEEP + "1" + "}" * _DEEP)


def _wrong_type(kind: str) -> Strategy:
    """JSON values of another type than ``kind`` (null aside: an absent optional member is no violation)."""
    candidates: dict[str, list[Any]] = {
        "string": [1, 1.5, True, [], {}, ["x"]],
        "integer": ["5", True, [], {}, [1]],
        "long": ["5", True, [], {}],
        "float": ["1.5", True, [], {}],
        "double": ["1.5", True, [], {}],
        "boolean": ["true", 1, 0, [], {}],
        "timestamp": [True, [], {}, [1700000000]],
        "list": ["x", 3, {}, True],
        "map": [[], "x", 3, True],
        "structure": [[], "x", 3, True, [{}]],
    }
    return st.one_of(st.sampled_from(candidates.get(kind, [[]])), st.sampled_from([_DEEP_LIST, _DEEP_OBJECT]))


# -- documents inside strings ------------------------------------------------------------------------------------


def json_documents(keys: Sequence[str]) -> Strategy:
    """JSON text as ``properties`` or a schema field might hold it: objects of the given keys (and others) with
    values of every JSON type, numbers at the edges of the double range, non-finite tokens, deep nesting, text
    that is not JSON."""
    scalar = st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=False, allow_infinity=False),
        st.sampled_from([1e308, 5e-324, -0.0, 2**64, 2.0**-400, 2.0**400]),
        st.text(max_size=20),
    )
    value = st.recursive(
        scalar,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
        max_leaves=6,
    )
    objects = st.dictionaries(st.sampled_from(list(keys)) | st.text(max_size=8), value, max_size=4).map(
        json.dumps
    )
    odd = st.sampled_from(
        [
            "not json",
            "",
            "[]",
            "null",
            '{"a": NaN}',
            '{"a": Infinity}',
            '{"a": 1e999}',
            "{" * 600,
            "[" * 600 + "]" * 600,
            '{"a":' * 500 + "1" + "}" * 500,
            "[" * 12_000 + "]" * 12_000,
        ]
    )
    return st.one_of(objects, objects, odd)


PERSONALIZE_KEYS = ("price", "margin", "categoryL1", "CATEGORY_L2", "note", "eventValue", "NOTE", "age")


def personalize_hints(folder: str) -> tuple[dict[str, Strategy], frozenset[str]]:
    """Meaningful content for the Personalize shapes that carry a language of their own, and the locations
    (``folder``: an absolute path the tests own) that valid-looking bodies may name."""
    field = st.fixed_dictionaries(
        {
            "name": st.sampled_from(
                ["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "EVENT_VALUE", "PRICE", "X"]
            ),
            "type": st.sampled_from(["string", "long", "int", "float", "double", "boolean", "null", "bytes"])
            | st.lists(st.sampled_from(["null", "string", "long", "float"]), max_size=3),
        },
        optional={"categorical": st.booleans(), "doc": st.text(max_size=10)},
    )
    record = st.fixed_dictionaries(
        {"type": st.just("record"), "name": st.sampled_from(["Interactions", "Items", "X", "1bad"])},
        optional={"fields": st.lists(field, max_size=6), "version": st.just("1.0")},
    ).map(json.dumps)
    expressions = st.sampled_from(
        [
            "SAMPLECOUNT()",
            "SUM(INTERACTIONS.EVENT_VALUE)",
            "SUM(ITEMS.MARGIN)",
            "sum(items.price)",
            "IMPRESSIONCOUNT()",
            "RATIO(SAMPLECOUNT(), IMPRESSIONCOUNT())",
            "RATIO(RATIO(SAMPLECOUNT(), SAMPLECOUNT()), SAMPLECOUNT())",
            "SUM(INTERACTIONS.NOPE)",
            "SUM(" * 80 + ")" * 80,
        ]
    )
    locations = st.one_of(
        st.sampled_from(["s3://bucket/prefix/", "s3://bucket/a.csv", "https://example.invalid/x"]),
        st.text("abc/", max_size=12).map(lambda tail: f"file://{folder}/{tail}"),
    )
    documents = json_documents(PERSONALIZE_KEYS)
    hints: dict[str, Strategy] = {
        "AvroSchema": st.one_of(record, documents),
        "EventPropertiesJSON": documents,
        "ItemProperties": documents,
        "UserProperties": documents,
        "MetricExpression": expressions,
        "S3Location": locations,
        "EventType": st.sampled_from(["View", "Click", "Purchase", "view"]),
    }
    return hints, frozenset({"S3Location"})
