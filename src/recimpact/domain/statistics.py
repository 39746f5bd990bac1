"""Comparison statistics for two attribution sources: difference, relative lift, fixed-horizon confidence
intervals, anytime-valid confidence sequences and the warnings a reader needs before trusting them.

The unit of analysis is the user. Each source is summarised by six sums over its users (n, Σx, Σy, Σx², Σy², Σxy),
where x is the user's numerator (purchases, margin) and y the user's denominator (impressions, views; 1 for mean
metrics). Six sums are enough for every estimate below, so callers aggregate in SQL and never hold per-user arrays.

Pure Python and the standard library only (the normal distribution comes from ``statistics.NormalDist``): the
same code runs in the server, the CLI and the tests, and the formulas stay readable next to their docstrings.

Assumptions, stated once: users are independent units; within a source, users' (x, y) pairs are identically
distributed; the two sources' samples are independent (no user counted in both, see ``randomization_warning``);
and samples are large enough for the central limit theorem (the 30-unit warning). Only randomized assignment of
users to sources makes the difference causal; without it the numbers describe who saw each source, too.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, replace
from enum import StrEnum
from statistics import NormalDist

from recimpact.domain.errors import InvalidInputException

MIN_UNITS_PER_SIDE = 30  # the usual floor for the normal approximation of a mean (GrowthBook, PostHog)
DEFAULT_SEQUENTIAL_TUNING = 5000  # planned total units (both sides); GrowthBook's default tuning parameter
RANDOMIZATION_OVERLAP_THRESHOLD = 0.01  # GrowthBook warns on multiple exposures above 1% of users

_STANDARD_NORMAL = NormalDist()


class MetricKind(StrEnum):
    """MEAN: per-user mean of x (y ignored). RATIO: Σx / Σy over users (e.g. clicks per impression), whose
    variance comes from the delta method because both numerator and denominator vary per user."""

    MEAN = "MEAN"
    RATIO = "RATIO"


@dataclass(frozen=True)
class SampleSummary:
    """Sufficient statistics of one source's per-user (x, y) values.

    Mergeable (``a + b`` summarises the union of two disjoint sets of users), so daily or per-partition sums from
    SQL can be combined without revisiting users. Variances are computed from raw sums (Σx² − (Σx)²/n): exact for
    integer-valued data and accurate to ~1e-9 relative for ordinary float data; negative round-off is clamped.
    """

    n: int = 0
    sum_x: float = 0.0
    sum_y: float = 0.0
    sum_x2: float = 0.0
    sum_y2: float = 0.0
    sum_xy: float = 0.0

    @classmethod
    def from_units(cls, pairs: Iterable[tuple[float, float]]) -> SampleSummary:
        """Summarise (x, y) pairs, one per user. For mean metrics pass y = 1."""
        n = 0
        xs: list[float] = []
        ys: list[float] = []
        for x, y in pairs:
            n += 1
            xs.append(float(x))
            ys.append(float(y))
        return cls(
            n=n,
            sum_x=math.fsum(xs),
            sum_y=math.fsum(ys),
            sum_x2=math.fsum(x * x for x in xs),
            sum_y2=math.fsum(y * y for y in ys),
            sum_xy=math.fsum(x * y for x, y in zip(xs, ys, strict=True)),
        )

    @classmethod
    def from_values(cls, values: Iterable[float]) -> SampleSummary:
        """Summarise per-user values of a mean metric (y = 1 for every user)."""
        return cls.from_units((value, 1.0) for value in values)

    def with_unit(self, x: float, y: float = 1.0) -> SampleSummary:
        """This summary plus one more user."""
        return SampleSummary(
            self.n + 1,
            self.sum_x + x,
            self.sum_y + y,
            self.sum_x2 + x * x,
            self.sum_y2 + y * y,
            self.sum_xy + x * y,
        )

    def __add__(self, other: SampleSummary) -> SampleSummary:
        return SampleSummary(
            self.n + other.n,
            self.sum_x + other.sum_x,
            self.sum_y + other.sum_y,
            self.sum_x2 + other.sum_x2,
            self.sum_y2 + other.sum_y2,
            self.sum_xy + other.sum_xy,
        )

    def is_finite(self) -> bool:
        return all(math.isfinite(v) for v in (self.sum_x, self.sum_y, self.sum_x2, self.sum_y2, self.sum_xy))


@dataclass(frozen=True)
class Interval:
    lower: float
    upper: float

    def contains(self, value: float) -> bool:
        return self.lower <= value <= self.upper

    def excludes_zero(self) -> bool:
        return not self.contains(0.0)


@dataclass(frozen=True)
class Estimate:
    """A source's metric value and the sampling variance of that value (not of one user's value)."""

    value: float
    variance: float | None  # None when fewer than 2 users; inf when beyond the float range (not estimable)


@dataclass(frozen=True)
class Comparison:
    """Source b against source a (the baseline): b − a and b / a − 1.

    ``*_ci`` are fixed-horizon intervals, valid when the data are looked at once, at a size chosen in advance.
    ``*_sequence`` are anytime-valid confidence sequences: the chance that they ever miss the truth, over every
    look at every sample size, is at most alpha, so they may be checked daily and acted on whenever they exclude
    zero. Any field that cannot be computed is None and ``warnings`` says why.
    """

    kind: MetricKind
    alpha: float
    units_a: int
    units_b: int
    value_a: float | None
    value_b: float | None
    difference: float | None
    difference_ci: Interval | None
    difference_sequence: Interval | None
    lift: float | None
    lift_ci: Interval | None
    lift_sequence: Interval | None
    p_value: float | None
    sequential_p_value: float | None
    warnings: tuple[str, ...]

    @property
    def significant(self) -> bool:
        """The fixed-horizon test rejects "no difference" at level alpha (valid for one planned look only)."""
        return self.p_value is not None and self.p_value < self.alpha

    @property
    def significant_sequential(self) -> bool:
        """The confidence sequence excludes zero: a peek-safe rejection at level alpha."""
        return self.difference_sequence is not None and self.difference_sequence.excludes_zero()


def estimate(summary: SampleSummary, kind: MetricKind) -> tuple[Estimate | None, list[str]]:
    """The metric value of one source and its sampling variance.

    MEAN: value = Σx / n, variance = s²ₓ / n with s²ₓ = (Σx² − (Σx)²/n) / (n − 1).
    RATIO: value r = Σx / Σy = x̄ / ȳ; by the delta method (first-order Taylor expansion of x̄/ȳ),
        variance = (s²ₓ − 2 r sₓᵧ + r² s²ᵧ) / (n ȳ²),
    with sₓᵧ = (Σxy − Σx Σy / n) / (n − 1). Equivalently the variance of the per-user linearised values
    (xᵢ − r yᵢ) / ȳ, divided by n.

    The variance is computed on x and y rescaled by powers of two so that their sums are near 1 (exact in binary
    floating point), then scaled back: squares and products of tiny or huge sums (a denominator of 1e-170, whose
    square underflows to zero) neither underflow nor overflow on the way. A value or variance that is itself beyond
    the float range is reported as not estimable, never raised.
    """
    if summary.n <= 0:
        return None, ["no units"]
    if not summary.is_finite():
        return None, ["sums are not finite numbers"]
    n = summary.n
    if kind is MetricKind.MEAN:
        value = summary.sum_x / n
    else:
        if summary.sum_y == 0:
            return None, ["denominator is zero"]
        value = summary.sum_x / summary.sum_y
    if not math.isfinite(value):
        return None, ["the value is beyond the floating-point range: not estimable"]
    if n < 2:
        return Estimate(value, None), []
    ex = _unit_exponent(summary.sum_x, summary.sum_x2)
    x, x2 = _scaled(summary.sum_x, -ex), _scaled(summary.sum_x2, -2 * ex)
    var_x = max(0.0, (x2 - x * (x / n)) / (n - 1))
    if kind is MetricKind.MEAN:
        return _estimate_or_problem(value, _scaled(var_x / n, 2 * ex))
    ey = _unit_exponent(summary.sum_y, summary.sum_y2)
    y, y2 = _scaled(summary.sum_y, -ey), _scaled(summary.sum_y2, -2 * ey)
    # |Σxy| ≤ √(Σx² Σy²) holds for any data (Cauchy-Schwarz); clamping keeps sums that are not from data finite.
    bound = math.sqrt(max(0.0, x2) * max(0.0, y2))
    xy = max(-bound, min(bound, _scaled(summary.sum_xy, -ex - ey)))
    mean_y = y / n
    if mean_y == 0:  # the denominator's mean is below the float range at the scale of its spread
        return Estimate(value, math.inf), ["the denominator is too close to zero: no variance"]
    ratio = x / y
    var_y = max(0.0, (y2 - y * mean_y) / (n - 1))
    cov_xy = (xy - x * mean_y) / (n - 1)
    linearised = var_x - 2 * ratio * cov_xy + ratio * ratio * var_y
    if not math.isfinite(linearised):
        return Estimate(value, math.inf), ["the variance is beyond the floating-point range: no variance"]
    unit_variance = max(0.0, linearised) / mean_y / mean_y
    # r = r' · 2^(ex − ey), so Var(r) = Var(r') · 2^(2(ex − ey)).
    return _estimate_or_problem(value, _scaled(unit_variance / n, 2 * (ex - ey)))


_MAX_RESCALE = 1000  # 2^±1000 stays a normal float, so the scale factors themselves are exact


def _unit_exponent(total: float, total_of_squares: float) -> int:
    """The binary exponent e of the larger of |Σv| and √Σv²: v · 2^-e has sums at most 1."""
    largest = max(abs(total), math.sqrt(max(0.0, total_of_squares)))
    if largest == 0 or not math.isfinite(largest):
        return 0
    return max(-_MAX_RESCALE, min(_MAX_RESCALE, math.frexp(largest)[1]))


def _scaled(value: float, exponent: int) -> float:
    """value · 2^exponent; ±inf past the float range (``math.ldexp`` raises there)."""
    try:
        return math.ldexp(value, exponent)
    except OverflowError:
        return math.copysign(math.inf, value)


def _estimate_or_problem(value: float, variance: float) -> tuple[Estimate, list[str]]:
    if math.isfinite(variance):
        return Estimate(value, variance), []
    return Estimate(value, math.inf), ["the variance is beyond the floating-point range: no variance"]


def sequential_rho(alpha: float, planned_units: float) -> float:
    """Mixing scale ρ of the normal-mixture boundary that makes the sequence narrowest at ``planned_units``.

    ρ² = (−2 ln α + ln(1 − 2 ln α)) / N (Waudby-Smith et al., "Time-uniform central limit theory and asymptotic
    confidence sequences", eq. 161; GrowthBook's tuning parameter N). A wrong N costs width, never validity.
    """
    log_alpha = math.log(alpha)
    return math.sqrt((-2 * log_alpha + math.log(1 - 2 * log_alpha)) / planned_units)


def sequence_factor(units: int, alpha: float, planned_units: float) -> float:
    """Half-width of the asymptotic confidence sequence in standard errors, at ``units`` total units.

    The two-sided normal-mixture boundary (Robbins; Howard et al. 2021): with t = units and ρ from
    ``sequential_rho``, the estimate θ̂ ± SE · sqrt(2 (tρ² + 1) / (tρ²) · ln(sqrt(tρ² + 1) / α)) covers θ at every
    t simultaneously with probability ≥ 1 − α, asymptotically. Always wider than the fixed z-interval: the
    factor is at least sqrt(2 ln(1/α)) (2.45 at α = 0.05, against 1.96).
    """
    x = units * sequential_rho(alpha, planned_units) ** 2
    return math.sqrt(2 * (x + 1) / x * math.log(math.sqrt(x + 1) / alpha))


def sequential_p_value(z: float, units: int, alpha: float, planned_units: float) -> float:
    """Anytime-valid p-value: 1 / (mixture e-value), capped at 1.

    The normal-mixture martingale at t units is M = exp(tρ² z² / (2 (tρ² + 1))) / sqrt(tρ² + 1), with z the usual
    z-statistic; ``p ≤ α`` exactly when the confidence sequence excludes zero. Computed in logs, so huge
    evidence gives a tiny p-value instead of an overflow.
    """
    x = units * sequential_rho(alpha, planned_units) ** 2
    log_evalue = x * z * z / (2 * (x + 1)) - 0.5 * math.log(x + 1)
    return 1.0 if log_evalue <= 0 else math.exp(-log_evalue)


def two_sided_p_value(z: float) -> float:
    """P(|Z| ≥ |z|) for a standard normal Z; erfc keeps precision in the far tail."""
    return math.erfc(abs(z) / math.sqrt(2))


def compare(
    a: SampleSummary,
    b: SampleSummary,
    kind: MetricKind | str,
    alpha: float = 0.05,
    sequential_tuning: float = DEFAULT_SEQUENTIAL_TUNING,
) -> Comparison:
    """Compare source b with baseline source a on one metric.

    difference = v_b − v_a, Var = Var(v_a) + Var(v_b) (independent samples); CI = difference ± z₁₋α/₂ · SE.
    lift = v_b / v_a − 1, by the delta method on the ratio of the two estimates (as GrowthBook does):
        Var(lift) = Var(v_b) / v_a² + v_b² Var(v_a) / v_a⁴.
    p_value is the two-sided z-test of difference = 0 (Welch: unequal variances; normal, not t, because every
    trusted comparison has ≥ 30 units per side). The confidence sequences use the same estimates and standard
    errors, the total units n_a + n_b as time, and ``sequential_tuning`` as the planned total units
    (see ``sequence_factor``).

    Degenerate inputs never raise: values that cannot be computed are None, with a warning. Invalid parameters
    (alpha outside (0, 1) or so small that α/2 is zero, a tuning that is not a positive number of units whose ρ²
    is a float) raise InvalidInputException.
    """
    if not (alpha / 2 > 0 and alpha < 1):
        raise InvalidInputException(f"alpha must be between 0 and 1, got {alpha}")
    if not (math.isfinite(sequential_tuning) and sequential_tuning > 0) or not math.isfinite(
        sequential_rho(alpha, sequential_tuning)
    ):
        raise InvalidInputException(
            f"sequential tuning must be a positive number of units, got {sequential_tuning}"
        )
    if kind not in MetricKind.__members__:
        raise InvalidInputException(f"metric kind must be one of {', '.join(MetricKind)}, got {kind!r}")
    kind = MetricKind(kind)
    warnings: list[str] = []
    estimates: list[Estimate | None] = []
    for name, summary in (("a", a), ("b", b)):
        result, problems = estimate(summary, kind)
        warnings.extend(f"source {name}: {problem}" for problem in problems)
        if 0 < summary.n < MIN_UNITS_PER_SIDE:
            warnings.append(
                f"source {name}: only {summary.n} units (fewer than {MIN_UNITS_PER_SIDE}); "
                "the normal approximation behind the intervals may not hold"
            )
        if result is not None and result.variance == 0:
            warnings.append(f"source {name}: zero variance (all units alike)")
        estimates.append(result)
    est_a, est_b = estimates
    value_a = est_a.value if est_a else None
    value_b = est_b.value if est_b else None
    empty = Comparison(
        kind=kind,
        alpha=alpha,
        units_a=a.n,
        units_b=b.n,
        value_a=value_a,
        value_b=value_b,
        difference=None,
        difference_ci=None,
        difference_sequence=None,
        lift=None,
        lift_ci=None,
        lift_sequence=None,
        p_value=None,
        sequential_p_value=None,
        warnings=tuple(warnings),
    )
    if est_a is None or est_b is None:
        return empty

    difference = est_b.value - est_a.value
    if not math.isfinite(difference):
        warnings.append("the difference overflows a float: no intervals")
        return replace(empty, warnings=tuple(warnings))
    lift: float | None = None
    if est_a.value == 0:
        warnings.append("source a's value is zero: relative lift is undefined")
    elif math.isfinite(est_b.value / est_a.value):
        lift = est_b.value / est_a.value - 1
    else:
        warnings.append("source a's value is too close to zero for a relative lift")

    if est_a.variance is None or est_b.variance is None:
        warnings.append("variance needs at least 2 units per side: no intervals")
        return replace(empty, difference=difference, lift=lift, warnings=tuple(warnings))
    variance = est_a.variance + est_b.variance
    if not variance > 0 or not math.isfinite(variance):
        warnings.append("the difference has no positive, finite variance: no intervals")
        return replace(empty, difference=difference, lift=lift, warnings=tuple(warnings))

    # The lower tail's quantile, negated: 1 − α/2 rounds to 1 (where the quantile is undefined) once α < 1e-16.
    z_critical = -_STANDARD_NORMAL.inv_cdf(alpha / 2)
    units = a.n + b.n
    factor = sequence_factor(units, alpha, sequential_tuning)
    se = math.sqrt(variance)
    z = difference / se

    lift_ci: Interval | None = None
    lift_sequence: Interval | None = None
    if lift is not None:
        # Var(v_b)/v_a² + v_b²·Var(v_a)/v_a⁴, written as squares of ratios so tiny or huge values overflow to
        # inf (caught below) instead of raising or dividing by an underflowed zero.
        term_b = math.sqrt(est_b.variance) / est_a.value
        term_a = (est_b.value / est_a.value) * math.sqrt(est_a.variance) / est_a.value
        lift_variance = term_b * term_b + term_a * term_a
        lift_sequence = _around(lift, factor * math.sqrt(lift_variance))
        if lift_variance > 0 and math.isfinite(lift_sequence.lower) and math.isfinite(lift_sequence.upper):
            lift_ci = _around(lift, z_critical * math.sqrt(lift_variance))
        else:
            warnings.append("relative lift has no positive, finite variance: no lift intervals")
            lift_sequence = None

    return Comparison(
        kind=kind,
        alpha=alpha,
        units_a=a.n,
        units_b=b.n,
        value_a=est_a.value,
        value_b=est_b.value,
        difference=difference,
        difference_ci=_around(difference, z_critical * se),
        difference_sequence=_around(difference, factor * se),
        lift=lift,
        lift_ci=lift_ci,
        lift_sequence=lift_sequence,
        p_value=two_sided_p_value(z),
        sequential_p_value=sequential_p_value(z, units, alpha, sequential_tuning),
        warnings=tuple(warnings),
    )


def randomization_warning(
    overlap_units: int, units_a: int, units_b: int, threshold: float = RANDOMIZATION_OVERLAP_THRESHOLD
) -> str | None:
    """A warning when more than ``threshold`` of the smaller source's users also saw the other source.

    Sources randomized by user (an A/B split) share almost no users; carousels on the same page, or sources shown
    to different segments, share many. Shared users break two assumptions: the samples are no longer independent
    (the intervals are off), and the comparison is observational (the difference mixes the source's effect with
    placement and audience). The smaller source is the reference because a source that is mostly shared is
    compromised even if the larger one is not. The default 1% follows GrowthBook's multiple-exposure check.
    Returns None when the overlap is immaterial; counts that cannot be true raise InvalidInputException.
    """
    if min(overlap_units, units_a, units_b) < 0:
        raise InvalidInputException("unit counts must not be negative")
    if overlap_units > min(units_a, units_b):
        raise InvalidInputException(
            f"overlap of {overlap_units} units exceeds a source's {min(units_a, units_b)} units"
        )
    smaller = min(units_a, units_b)
    if smaller == 0 or overlap_units / smaller <= threshold:
        return None
    share = overlap_units / smaller
    return (
        f"sources not randomized: {overlap_units:,} units ({share:.1%} of the smaller source) saw both sources, "
        "so the comparison is observational and its intervals assume an independence that does not hold"
    )


def _around(center: float, half_width: float) -> Interval:
    return Interval(center - half_width, center + half_width)
