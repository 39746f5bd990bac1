"""Comparison statistics: exact values against independent computations, coverage and error rates by seeded
simulation, and algebraic properties by hypothesis."""

from __future__ import annotations

import math
import random
import statistics

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from recimpact.domain.errors import InvalidInputException
from recimpact.domain.statistics import (
    DEFAULT_SEQUENTIAL_TUNING,
    Comparison,
    Interval,
    MetricKind,
    SampleSummary,
    compare,
    estimate,
    randomization_warning,
    sequence_factor,
    sequential_rho,
)

Z_975 = statistics.NormalDist().inv_cdf(0.975)


def _variance_of_value(summary: SampleSummary, kind: MetricKind) -> float:
    result, problems = estimate(summary, kind)
    assert result is not None, problems
    assert result.variance is not None
    return result.variance


def _interval(value: Interval | None) -> Interval:
    assert value is not None
    return value


# --- exact values -----------------------------------------------------------------------------------------------


def test_hand_computed_mean_comparison() -> None:
    # a: 1, 3 → mean 2, s² 2, Var(mean) 1;  b: 4, 6 → mean 5, s² 2, Var(mean) 1.
    # difference 3 ± 1.96·√2; lift 1.5 with Var = 1/2² + 5²·1/2⁴ = 1.8125.
    result = compare(SampleSummary.from_values([1, 3]), SampleSummary.from_values([4, 6]), MetricKind.MEAN)
    assert (result.value_a, result.value_b, result.difference, result.lift) == (2.0, 5.0, 3.0, 1.5)
    assert _interval(result.difference_ci).upper == pytest.approx(3 + Z_975 * math.sqrt(2), rel=1e-12)
    assert _interval(result.lift_ci).lower == pytest.approx(1.5 - Z_975 * math.sqrt(1.8125), rel=1e-12)
    assert any("only 2 units" in warning for warning in result.warnings)


def test_mean_comparison_equals_welch_z_interval() -> None:
    rng = random.Random(7)
    xs_a = [rng.expovariate(1 / 20) for _ in range(180)]
    xs_b = [rng.expovariate(1 / 23) for _ in range(240)]
    result = compare(SampleSummary.from_values(xs_a), SampleSummary.from_values(xs_b), MetricKind.MEAN)

    difference = statistics.fmean(xs_b) - statistics.fmean(xs_a)
    se = math.sqrt(statistics.variance(xs_a) / len(xs_a) + statistics.variance(xs_b) / len(xs_b))
    z = difference / se
    assert result.difference == pytest.approx(difference, rel=1e-12)
    ci = _interval(result.difference_ci)
    assert (ci.lower, ci.upper) == pytest.approx(
        (difference - Z_975 * se, difference + Z_975 * se), rel=1e-10
    )
    assert result.p_value == pytest.approx(2 * (1 - statistics.NormalDist().cdf(abs(z))), rel=1e-9)
    assert result.warnings == ()


def test_ratio_variance_equals_variance_of_linearised_units() -> None:
    """The delta-method variance of Σx/Σy equals the sample variance of (xᵢ − r·yᵢ)/ȳ over n, computed here
    from the per-unit values rather than from the six sums."""
    rng = random.Random(11)
    units = [(float(rng.randint(0, 4)), float(rng.randint(1, 12))) for _ in range(300)]
    ratio = sum(x for x, _ in units) / sum(y for _, y in units)
    mean_y = statistics.fmean(y for _, y in units)
    linearised = [(x - ratio * y) / mean_y for x, y in units]

    summary = SampleSummary.from_units(units)
    assert _variance_of_value(summary, MetricKind.RATIO) == pytest.approx(
        statistics.variance(linearised) / len(units), rel=1e-10
    )


def test_lift_variance_equals_numeric_delta_method() -> None:
    """Var(lift) from a finite-difference gradient of g(a, b) = b/a − 1 and the two estimates' variances."""
    rng = random.Random(13)
    a = SampleSummary.from_units((rng.randint(0, 3), rng.randint(1, 10)) for _ in range(200))
    b = SampleSummary.from_units((rng.randint(0, 4), rng.randint(1, 10)) for _ in range(250))
    result = compare(a, b, MetricKind.RATIO)
    value_a, value_b = result.value_a, result.value_b
    assert value_a is not None
    assert value_b is not None

    def lift(va: float, vb: float) -> float:
        return vb / va - 1

    h = 1e-6
    d_a = (lift(value_a + h, value_b) - lift(value_a - h, value_b)) / (2 * h)
    d_b = (lift(value_a, value_b + h) - lift(value_a, value_b - h)) / (2 * h)
    variance = d_a**2 * _variance_of_value(a, MetricKind.RATIO) + d_b**2 * _variance_of_value(
        b, MetricKind.RATIO
    )
    ci = _interval(result.lift_ci)
    assert (ci.upper - ci.lower) / 2 == pytest.approx(Z_975 * math.sqrt(variance), rel=1e-6)


def _mixture_evalue(z: float, units: int, rho: float) -> float:
    """∫ exp(λ s − λ² t / 2) dN(0, ρ²)(λ) with s = √t · z, by Simpson's rule: the e-value whose crossing of 1/α
    defines the confidence sequence, computed without the closed form."""
    s = math.sqrt(units) * z
    steps, span = 4000, 12 * rho
    width = 2 * span / steps
    total = 0.0
    for i in range(steps + 1):
        lam = -span + i * width
        weight = 1 if i in (0, steps) else (4 if i % 2 else 2)
        density = math.exp(-(lam**2) / (2 * rho**2)) / (rho * math.sqrt(2 * math.pi))
        total += weight * math.exp(lam * s - lam**2 * units / 2) * density
    return total * width / 3


@pytest.mark.parametrize(("units", "planned"), [(200, 5000), (5000, 5000), (40_000, 5000), (1000, 300)])
def test_sequence_boundary_is_where_the_mixture_evalue_reaches_one_over_alpha(
    units: int, planned: int
) -> None:
    alpha = 0.05
    rho = sequential_rho(alpha, planned)
    boundary = sequence_factor(units, alpha, planned)
    assert _mixture_evalue(boundary, units, rho) == pytest.approx(1 / alpha, rel=1e-6)

    assert boundary > Z_975


def test_sequential_p_value_is_inverse_mixture_evalue() -> None:
    rng = random.Random(3)
    a = SampleSummary.from_values(rng.gauss(10, 3) for _ in range(400))
    b = SampleSummary.from_values(rng.gauss(10.9, 3) for _ in range(400))
    result = compare(a, b, MetricKind.MEAN, sequential_tuning=1000)
    assert result.difference is not None
    assert result.difference_ci is not None
    z = result.difference / ((result.difference_ci.upper - result.difference_ci.lower) / (2 * Z_975))
    evalue = _mixture_evalue(z, 800, sequential_rho(0.05, 1000))
    assert evalue > 1
    assert result.sequential_p_value == pytest.approx(1 / evalue, rel=1e-6)
    assert (result.sequential_p_value < 0.05) == result.significant_sequential


def test_tuning_for_the_planned_size_gives_the_narrowest_sequence_there() -> None:
    planned = 4000
    at_plan = sequence_factor(planned, 0.05, planned)
    assert at_plan < sequence_factor(planned, 0.05, planned / 10)
    assert at_plan < sequence_factor(planned, 0.05, planned * 10)
    assert 2.9 < at_plan < 3.1  # about 1.55 times the fixed-horizon 1.96 at the planned size


# --- degenerate input and warnings ----------------------------------------------------------------------------


def _assert_no_intervals(result: Comparison) -> None:
    assert (result.difference_ci, result.difference_sequence, result.lift_ci, result.lift_sequence) == (
        None,
    ) * 4
    assert (result.p_value, result.sequential_p_value) == (None, None)
    assert not result.significant
    assert not result.significant_sequential
    assert result.warnings


def test_empty_side_gives_warning_not_exception() -> None:
    result = compare(SampleSummary(), SampleSummary.from_values(range(50)), MetricKind.MEAN)
    _assert_no_intervals(result)
    assert (result.value_a, result.value_b) == (None, 24.5)
    assert "source a: no units" in result.warnings


def test_zero_denominator_ratio() -> None:
    result = compare(
        SampleSummary.from_units([(0, 0)] * 40), SampleSummary.from_units([(1, 2)] * 40), MetricKind.RATIO
    )
    _assert_no_intervals(result)
    assert "source a: denominator is zero" in result.warnings


def test_zero_variance_on_both_sides() -> None:
    result = compare(
        SampleSummary.from_values([3] * 50), SampleSummary.from_values([4] * 50), MetricKind.MEAN
    )
    _assert_no_intervals(result)
    assert result.difference == 1.0
    assert result.lift == pytest.approx(1 / 3)
    assert "source a: zero variance (all units alike)" in result.warnings


def test_one_unit_per_side_has_values_but_no_intervals() -> None:
    result = compare(SampleSummary.from_values([2]), SampleSummary.from_values([5]), MetricKind.MEAN)
    _assert_no_intervals(result)
    assert result.difference == 3.0
    assert any("at least 2 units" in warning for warning in result.warnings)


def test_zero_baseline_leaves_lift_undefined_but_keeps_the_difference() -> None:
    result = compare(
        SampleSummary.from_units([(0, 5)] * 40),
        SampleSummary.from_units([(1, 5), (0, 5)] * 20),
        MetricKind.RATIO,
    )
    assert (result.lift, result.lift_ci, result.lift_sequence) == (None, None, None)
    assert _interval(result.difference_ci).contains(0.1)
    assert any("relative lift is undefined" in warning for warning in result.warnings)


def test_non_finite_sums() -> None:
    broken = SampleSummary(n=40, sum_x=math.inf, sum_y=40, sum_x2=math.inf, sum_y2=40, sum_xy=math.inf)
    result = compare(broken, SampleSummary.from_values(range(40)), MetricKind.MEAN)
    _assert_no_intervals(result)
    assert "source a: sums are not finite numbers" in result.warnings


def test_few_units_are_flagged_but_still_computed() -> None:
    result = compare(
        SampleSummary.from_values(range(10)), SampleSummary.from_values(range(3, 60)), MetricKind.MEAN
    )
    assert result.difference_ci is not None
    assert [w for w in result.warnings if "fewer than 30" in w] == [
        "source a: only 10 units (fewer than 30); the normal approximation behind the intervals may not hold"
    ]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"alpha": 0.0}, "alpha must be between 0 and 1"),
        ({"alpha": 1.5}, "alpha must be between 0 and 1"),
        ({"sequential_tuning": 0}, "sequential tuning must be a positive"),
        ({"sequential_tuning": math.nan}, "sequential tuning must be a positive"),
        ({"sequential_tuning": 5e-324}, "sequential tuning must be a positive"),  # its ρ² overflows
        ({"alpha": 5e-324}, "alpha must be between 0 and 1"),  # α/2 is zero
        ({"kind": "MEDIAN"}, "metric kind must be one of MEAN, RATIO"),
    ],
)
def test_invalid_parameters_raise_invalid_input(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"kind": MetricKind.MEAN, **kwargs}
    summary = SampleSummary.from_values(range(40))
    with pytest.raises(InvalidInputException, match=message):
        compare(summary, summary, **arguments)  # type: ignore[arg-type]


def test_kind_accepts_its_wire_name() -> None:
    summary = SampleSummary.from_units([(1, 2), (0, 3)] * 20)
    assert compare(summary, summary, "RATIO") == compare(summary, summary, MetricKind.RATIO)


def test_randomization_warning() -> None:
    assert randomization_warning(0, 5000, 4000) is None
    assert randomization_warning(40, 5000, 4000) is None  # 1.0% of the smaller source: immaterial
    warning = randomization_warning(800, 5000, 4000)
    assert warning is not None
    assert warning.startswith("sources not randomized: 800 units (20.0% of the smaller source) saw both")
    # Small against the union, but most of the smaller source: still not randomized.
    assert randomization_warning(90, 100_000, 100) is not None
    assert randomization_warning(0, 0, 0) is None
    assert randomization_warning(300, 1000, 1000, threshold=0.5) is None


@pytest.mark.parametrize(("overlap", "a", "b"), [(-1, 10, 10), (11, 10, 20), (5, -3, 10)])
def test_randomization_warning_rejects_impossible_counts(overlap: int, a: int, b: int) -> None:
    with pytest.raises(InvalidInputException):
        randomization_warning(overlap, a, b)


# --- coverage and error rates by simulation ---------------------------------------------------------------------

BASE_RATE = 0.05  # clicks per impression
TRUE_LIFT = 0.10


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's multiplication method; fine for the small means used here."""
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _users(rng: random.Random, count: int, rate: float) -> SampleSummary:
    """Per user: 1–19 impressions, a user-specific click rate (gamma around ``rate``, so users differ more than
    a binomial model assumes), and Poisson clicks. The true ratio Σclicks/Σimpressions is ``rate``."""
    units = []
    for _ in range(count):
        impressions = rng.randint(1, 19)
        user_rate = rate * rng.gammavariate(2.0, 0.5)
        units.append((float(_poisson(rng, user_rate * impressions)), float(impressions)))
    return SampleSummary.from_units(units)


def _rate(hits: int, runs: int) -> str:
    return f"{hits}/{runs} = {hits / runs:.1%}"


def test_injected_lift_is_inside_the_interval_in_95_percent_of_runs() -> None:
    runs, users_per_side = 400, 400
    true_difference = BASE_RATE * TRUE_LIFT
    covered_difference = covered_lift = covered_sequence = 0
    for seed in range(runs):
        rng = random.Random(seed)
        a = _users(rng, users_per_side, BASE_RATE)
        b = _users(rng, users_per_side, BASE_RATE * (1 + TRUE_LIFT))
        result = compare(a, b, MetricKind.RATIO)
        assert not result.warnings
        covered_difference += _interval(result.difference_ci).contains(true_difference)
        covered_lift += _interval(result.lift_ci).contains(TRUE_LIFT)
        covered_sequence += _interval(result.lift_sequence).contains(TRUE_LIFT)
    assert covered_difference >= 0.93 * runs, (
        f"difference CI covered the truth in {_rate(covered_difference, runs)}"
    )
    assert covered_lift >= 0.93 * runs, f"lift CI covered the truth in {_rate(covered_lift, runs)}"
    assert covered_sequence >= 0.95 * runs, (
        f"lift sequence covered the truth in {_rate(covered_sequence, runs)}"
    )
    # Not vacuous: a 95% interval that covered every time would be far too wide.
    assert covered_lift <= 0.985 * runs, f"lift CI covered the truth in {_rate(covered_lift, runs)}"


def test_aa_runs_reject_at_most_about_alpha() -> None:
    runs, users_per_side = 400, 400
    rejected = rejected_sequential = 0
    p_values = []
    for seed in range(runs):
        rng = random.Random(100_000 + seed)
        result = compare(
            _users(rng, users_per_side, BASE_RATE), _users(rng, users_per_side, BASE_RATE), "RATIO"
        )
        rejected += result.significant
        rejected_sequential += result.significant_sequential
        assert result.p_value is not None
        p_values.append(result.p_value)
    assert rejected <= 0.07 * runs, f"A/A fixed-horizon rejections: {_rate(rejected, runs)}"
    assert rejected_sequential <= rejected, f"A/A sequential rejections: {_rate(rejected_sequential, runs)}"
    # p-values of a correct test are uniform under the null: about half fall below 0.5.
    below_half = sum(p < 0.5 for p in p_values)
    assert 0.42 * runs <= below_half <= 0.58 * runs, f"A/A p-values below 0.5: {_rate(below_half, runs)}"


def test_daily_peeking_breaks_the_fixed_interval_but_not_the_sequence() -> None:
    runs, days, users_per_day = 400, 20, 50
    planned_units = 2 * days * users_per_day
    true_difference = BASE_RATE * TRUE_LIFT
    missed_by_sequence = missed_by_fixed = 0
    for seed in range(runs):
        rng = random.Random(200_000 + seed)
        a = b = SampleSummary()
        sequence_missed = fixed_missed = False
        for _ in range(days):  # each day's users arrive as one SQL-style partial sum, merged into the total
            a = a + _users(rng, users_per_day, BASE_RATE)
            b = b + _users(rng, users_per_day, BASE_RATE * (1 + TRUE_LIFT))
            result = compare(a, b, MetricKind.RATIO, sequential_tuning=planned_units)
            sequence_missed |= not _interval(result.difference_sequence).contains(true_difference)
            fixed_missed |= not _interval(result.difference_ci).contains(true_difference)
        missed_by_sequence += sequence_missed
        missed_by_fixed += fixed_missed
    held = runs - missed_by_sequence
    assert held >= 0.95 * runs, f"sequence held over all {days} looks in {_rate(held, runs)}"
    assert missed_by_fixed >= 0.12 * runs, (
        f"fixed CI missed at some look in only {_rate(missed_by_fixed, runs)}"
    )
    assert missed_by_fixed >= 3 * missed_by_sequence, (
        f"fixed CI missed in {_rate(missed_by_fixed, runs)}, sequence in {_rate(missed_by_sequence, runs)}"
    )


# --- properties -------------------------------------------------------------------------------------------------

ratio_units = st.lists(st.tuples(st.integers(0, 30), st.integers(1, 20)), min_size=2, max_size=60)
mean_units = st.lists(st.tuples(st.integers(-50, 500), st.just(1)), min_size=2, max_size=60)
kinds_and_units = st.one_of(
    st.tuples(st.just(MetricKind.RATIO), ratio_units, ratio_units),
    st.tuples(st.just(MetricKind.MEAN), mean_units, mean_units),
)
Units = list[tuple[int, int]]


@given(kinds_and_units)
def test_swapping_sources_negates_the_difference(case: tuple[MetricKind, Units, Units]) -> None:
    kind, units_a, units_b = case
    a, b = SampleSummary.from_units(units_a), SampleSummary.from_units(units_b)
    forward, backward = compare(a, b, kind), compare(b, a, kind)
    assert forward.difference is not None
    assert backward.difference is not None
    assert forward.difference == -backward.difference
    assert forward.p_value == backward.p_value
    if forward.difference_ci is not None:
        assert backward.difference_ci == Interval(-forward.difference_ci.upper, -forward.difference_ci.lower)
    if forward.lift is not None and backward.lift is not None:
        assert (1 + forward.lift) * (1 + backward.lift) == pytest.approx(1.0)


@given(ratio_units, ratio_units)
def test_merging_summaries_equals_summarizing_the_union(first: Units, second: Units) -> None:
    # Integer data keep every sum exact, so equality is exact.
    assert SampleSummary.from_units(first) + SampleSummary.from_units(second) == SampleSummary.from_units(
        first + second
    )
    incremental = SampleSummary()
    for x, y in first:
        incremental = incremental.with_unit(x, y)
    assert incremental == SampleSummary.from_units(first)


@given(kinds_and_units)
def test_intervals_contain_the_estimate_and_the_sequence_contains_the_interval(
    case: tuple[MetricKind, Units, Units],
) -> None:
    kind, units_a, units_b = case
    result = compare(SampleSummary.from_units(units_a), SampleSummary.from_units(units_b), kind)
    pairs: list[tuple[float | None, Interval | None, Interval | None]] = [
        (result.difference, result.difference_ci, result.difference_sequence),
        (result.lift, result.lift_ci, result.lift_sequence),
    ]
    for point, ci, sequence in pairs:
        if ci is None:
            assert sequence is None
            continue
        assert point is not None
        assert sequence is not None
        assert ci.contains(point)
        assert sequence.lower <= ci.lower
        assert ci.upper <= sequence.upper
    assert (result.difference_ci is None) <= bool(result.warnings)


summaries = st.builds(
    SampleSummary,
    n=st.integers(0, 5),
    sum_x=st.floats(allow_nan=True, allow_infinity=True),
    sum_y=st.floats(allow_nan=False),
    sum_x2=st.floats(0, 1e6),
    sum_y2=st.floats(0, 1e6),
    sum_xy=st.floats(-1e6, 1e6),
)


@given(summaries, summaries, st.sampled_from(list(MetricKind)))
@example(  # a baseline so close to zero that its square underflows
    SampleSummary(n=2, sum_x=1.5e-164, sum_x2=1.0),
    SampleSummary(n=2),
    MetricKind.MEAN,
)
@example(  # a baseline so small that the lift's interval overflows
    SampleSummary(n=2, sum_x=2e-300, sum_x2=1.0),
    SampleSummary(n=2, sum_x=2.0, sum_x2=2.0),
    MetricKind.MEAN,
)
@example(  # a denominator sum whose mean underflows to zero (found by this test with a random seed)
    SampleSummary(n=0),
    SampleSummary(n=2, sum_y=5e-324),
    MetricKind.RATIO,
)
@example(  # the same denominator against a normal baseline, and a cross-product no data could give
    SampleSummary(n=3, sum_x=3.0, sum_y=6.0, sum_x2=5.0, sum_y2=14.0, sum_xy=8.0),
    SampleSummary(n=2, sum_x=1.0, sum_y=5e-324, sum_x2=1.0, sum_xy=1e300),
    MetricKind.RATIO,
)
def test_any_summaries_give_a_comparison_never_an_exception(
    a: SampleSummary, b: SampleSummary, kind: MetricKind
) -> None:
    result = compare(a, b, kind)
    if result.difference_ci is None:
        assert result.warnings
    else:
        assert all(math.isfinite(v) for v in (result.difference_ci.lower, result.difference_ci.upper))
    if result.lift is not None and result.lift_ci is None and result.difference_ci is not None:
        assert any("no lift intervals" in warning for warning in result.warnings)
    for p_value in (result.p_value, result.sequential_p_value):
        assert p_value is None or 0 <= p_value <= 1


@given(kinds_and_units, st.integers(-480, 480), st.integers(-480, 480))
@example((MetricKind.RATIO, [(1, 2), (3, 5), (0, 1)], [(2, 2), (1, 1)]), 0, -470)
def test_rescaling_by_powers_of_two_rescales_value_and_variance_exactly(
    case: tuple[MetricKind, Units, Units], shift_x: int, shift_y: int
) -> None:
    """Multiplying every x by 2^i and every y by 2^j changes no bit of any sum's mantissa, so the estimate must
    scale exactly: the value by 2^(i−j), the variance by 2^(2(i−j)), however small or large the sums become (a
    denominator whose square is below the float range is the case this guards)."""
    kind, units, _ = case
    if kind is MetricKind.MEAN:
        shift_y = 0  # y is the constant 1 of a mean metric
    assume(abs(shift_x - shift_y) <= 400)  # a variance scaled by 2^(2·400) is still a float
    plain, problems = estimate(SampleSummary.from_units(units), kind)
    shifted_units = [(math.ldexp(x, shift_x), math.ldexp(y, shift_y)) for x, y in units]
    shifted, shifted_problems = estimate(SampleSummary.from_units(shifted_units), kind)
    assert plain is not None
    assert shifted is not None, shifted_problems
    assert (problems, shifted_problems) == ([], [])
    shift = shift_x - shift_y
    assert shifted.value == math.ldexp(plain.value, shift)
    assert plain.variance is not None
    assert shifted.variance is not None
    expected = math.ldexp(plain.variance, 2 * shift)
    if expected == 0 or abs(expected) < 2**-1000:
        assert shifted.variance == pytest.approx(expected, abs=2**-1000)  # below the normal range: rounded
    else:
        assert shifted.variance == pytest.approx(expected, rel=1e-12)


def test_a_denominator_too_close_to_zero_is_not_estimable_rather_than_an_error() -> None:
    result = compare(
        SampleSummary.from_units([(1, 2), (2, 3), (0, 1)]),
        SampleSummary(n=2, sum_x=0.0, sum_y=5e-324, sum_x2=1.0, sum_y2=1.0, sum_xy=0.5),
        MetricKind.RATIO,
    )
    assert result.difference_ci is None
    assert any("too close to zero" in warning for warning in result.warnings)


@given(st.floats(min_value=1e-300, max_value=1, exclude_max=True), st.floats(min_value=1, max_value=1e12))
@example(1e-20, DEFAULT_SEQUENTIAL_TUNING)  # 1 − α/2 rounds to 1, where the normal quantile is undefined
def test_any_level_and_tuning_give_intervals_around_the_difference(alpha: float, tuning: float) -> None:
    a, b = SampleSummary.from_values([1, 2, 3, 5] * 10), SampleSummary.from_values([2, 3, 4, 6] * 10)
    result = compare(a, b, MetricKind.MEAN, alpha=alpha, sequential_tuning=tuning)
    for interval in (result.difference_ci, result.difference_sequence):
        assert interval is not None
        assert math.isfinite(interval.lower)
        assert math.isfinite(interval.upper)
        assert interval.contains(1.0)
