"""Hypothesis strategies for interaction files that probe where two engines could disagree: duplicates (also
written differently: ``2.5`` and ``+2.50`` are one value), case variants of event types, sources explicit, empty,
padded or given by a recommendation id, rows either side of a window boundary, empty cells, quoting, several
files with different columns in different orders."""

from __future__ import annotations

from hypothesis import strategies as st

from tests.conformance.pipeline import COLUMNS, METRICS, RECOMMENDER, Case, Row

BASE = 1_763_900_100 // 900 * 900  # a window start
EVENT_TYPES = ["View", "view", "VIEW", "vIeW", "Purchase", "PURCHASE", "Click", "click", "AddToCart", " View"]
# Sources the model's pattern accepts (printable ASCII with a visible character), padded ones kept as sent.
SOURCES = [None, "", "email", "Email", " email ", "email  ", "partner, inc.", 'say "hi"', " a  b "]
RECOMMENDATIONS = [None, "r1", "r2", "r9"]  # r9 was never issued
ISSUED = {"r1": RECOMMENDER + "top-picks", "r2": RECOMMENDER + "also-viewed"}
USERS = ["u1", "u2", "u,3", 'u"4']
ITEMS = ["i0", "i1", "i2", "i3", "i9"]  # i9 is not in the catalog
OFFSETS = [-901, -900, -899, -1, 0, 1, 899, 900, 901, 1799, 1800, 3599]
OPTIONAL = ["EVENT_VALUE", "RECOMMENDATION_ID", "EVENT_ATTRIBUTION_SOURCE"]
REQUIRED = ["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE"]
quarters = st.integers(-200, 200).map(lambda n: n / 4)  # exact in binary: every sum is exact on any engine


def long_text(value: int) -> st.SearchStrategy[str]:
    """The ways DuckDB accepts to write an integer."""
    forms = [str(value), f" {value}", f"{value}\t"]
    if value >= 0:
        forms += [f"+{value}", f"00{value}"]
    return st.sampled_from(forms)


def float_text(value: float) -> st.SearchStrategy[str]:
    """The ways DuckDB accepts to write a float: spaces, signs, trailing zeros, exponents."""
    forms = [repr(value), f"{value:.4f}", f" {value!r} ", f"{value * 10!r}e-1", f"{value!r}E0"]
    if value >= 0:
        forms.append(f"+{value!r}")
    if value == int(value):
        forms.append(str(int(value)))
    return st.sampled_from(forms)


@st.composite
def timestamps(draw: st.DrawFn) -> int:
    if draw(st.integers(0, 9)) == 0:
        return draw(st.sampled_from([0, 1, 899, 900, 901, 1799]))  # from the epoch, the earliest event time
    return BASE + draw(st.sampled_from(OFFSETS)) + draw(st.sampled_from([0, 0, 0, 900, 7200]))


@st.composite
def rows(draw: st.DrawFn, columns: list[str]) -> Row:
    row: Row = dict.fromkeys(COLUMNS)
    row["USER_ID"] = draw(st.sampled_from(USERS))
    row["ITEM_ID"] = draw(st.sampled_from(ITEMS))
    row["TIMESTAMP"] = draw(timestamps())
    row["EVENT_TYPE"] = draw(st.sampled_from(EVENT_TYPES))
    if "EVENT_VALUE" in columns:
        row["EVENT_VALUE"] = draw(st.none() | quarters)
    if "RECOMMENDATION_ID" in columns:
        row["RECOMMENDATION_ID"] = draw(st.sampled_from(RECOMMENDATIONS))
    if "EVENT_ATTRIBUTION_SOURCE" in columns:
        source = draw(st.sampled_from(SOURCES))
        row["EVENT_ATTRIBUTION_SOURCE"] = source or None  # an empty cell is no value
    return row


@st.composite
def cells(draw: st.DrawFn, row: Row, header: list[str]) -> tuple[str, ...]:
    """One way of writing ``row`` under ``header``."""
    out = []
    for column in header:
        value = row[column]
        if value is None:
            out.append("")
        elif column == "TIMESTAMP":
            out.append(draw(long_text(value)))
        elif column == "EVENT_VALUE":
            out.append(draw(float_text(value)))
        else:
            out.append(str(value))
    return tuple(out)


@st.composite
def files(draw: st.DrawFn) -> tuple[list[str], list[Row], list[tuple[str, ...]]]:
    optional = draw(st.lists(st.sampled_from(OPTIONAL), unique=True))
    header = draw(st.permutations(REQUIRED + optional))
    drawn = draw(st.lists(rows(header), min_size=1, max_size=25))
    # Exact duplicates, some written differently from the original.
    repeats = draw(st.lists(st.sampled_from(drawn), max_size=8))
    all_rows = drawn + repeats
    order = draw(st.permutations(range(len(all_rows))))
    written = [all_rows[i] for i in order]
    return header, written, [draw(cells(row, header)) for row in written]


@st.composite
def cases(draw: st.DrawFn) -> Case:
    parts = draw(st.lists(files(), min_size=1, max_size=3))
    margins = {item: draw(st.none() | quarters) for item in ITEMS[:-1]}
    metrics = draw(st.lists(st.sampled_from(METRICS), min_size=1, max_size=len(METRICS), unique=True))
    return Case(
        files=tuple((tuple(h), tuple(lines)) for h, _, lines in parts),
        rows=tuple(row for _, written, _ in parts for row in written),
        items=margins,
        issued=ISSUED,
        metrics=tuple(sorted(metrics, key=METRICS.index)),
    )
