"""Hypothesis settings for every run, and the selection of property tests for ``make explore``.

The root conftest loads this module as a plugin. Of its two profiles, one is loaded at ``pytest_configure``,
before any test module is imported, so that every ``@settings`` a test applies inherits from it:

- ``derandomized`` (the default: ``make test`` and CI): the same examples on every clone and every run, so a
  failure is a regression of the code, never a new draw; no example database (nothing from an earlier run is
  replayed), the failing blob printed for ``@reproduce_failure``, and no deadline and no too-slow health check,
  which a shared, noisy 2-core machine would make flaky.
- ``explore`` (``make explore``, or ``HYPOTHESIS_PROFILE=explore``): fresh random examples, ten times as many,
  with the example database in ``.hypothesis/`` so a rerun replays what the last one found. Every failure it
  finds is added to its test as an ``@example(...)``: that is how ``make test`` keeps checking it.

``HYPOTHESIS_PROFILE`` names the profile (an unknown name is an error, not a fallback); pytest's
``--hypothesis-profile`` still overrides it. A test too expensive for the profile's ``max_examples`` takes a
fraction of it with ``max_examples=examples(0.25)``, so that it grows with ``explore`` too.

Property tests carry the ``hypothesis`` marker: Hypothesis's pytest plugin marks ``@given`` tests, and this module
also marks tests that define a ``@given`` function in their body (``make explore`` runs ``pytest -m hypothesis``).
So that the selection cannot silently miss one, a test that runs Hypothesis without the marker fails.
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Generator
from typing import Any

import pytest
from hypothesis import HealthCheck, is_hypothesis_test, settings
from hypothesis.errors import InvalidArgument
from hypothesis.statistics import collector

PROFILE_VARIABLE = "HYPOTHESIS_PROFILE"
DEFAULT = "derandomized"
EXPLORE = "explore"
MARKER = "hypothesis"  # registered by Hypothesis's pytest plugin, which puts it on every @given test

settings.register_profile(
    DEFAULT,
    max_examples=100,
    derandomize=True,  # implies database=None
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    EXPLORE,
    max_examples=1000,
    derandomize=False,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)


@pytest.hookimpl(tryfirst=True)  # before Hypothesis's plugin, so that --hypothesis-profile wins
def pytest_configure(config: pytest.Config) -> None:
    name = os.environ.get(PROFILE_VARIABLE) or DEFAULT
    try:
        settings.load_profile(name)
    except InvalidArgument:
        raise pytest.UsageError(
            f"{PROFILE_VARIABLE}={name!r} is not a Hypothesis profile (this project's: {DEFAULT}, {EXPLORE})"
        ) from None


def examples(fraction: float) -> int:
    """``max_examples`` for a test that should run ``fraction`` of the active profile's examples."""
    return max(1, round(settings.default.max_examples * fraction))


_GIVEN = re.compile(r"@(?:\w+\.)*given\(")


def is_property_test(function: Any) -> bool:
    """A ``@given`` test, or a test that defines a ``@given`` function in its body and runs it."""
    if is_hypothesis_test(function):
        return True
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        return False
    return _GIVEN.search(source) is not None


@pytest.hookimpl(tryfirst=True)  # before -m deselects anything
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if isinstance(item, pytest.Function) and is_property_test(item.obj):
            item.add_marker(MARKER)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    if item.get_closest_marker(MARKER) is not None:
        return (yield)
    runs: list[object] = []
    with collector.with_value(runs.append):  # Hypothesis reports every finished run here
        result = yield
    if runs:
        pytest.fail(
            f"{item.nodeid} runs Hypothesis but is not marked as a property test, so `make explore` would miss "
            f"it: add @pytest.mark.{MARKER}",
            pytrace=False,
        )
    return result
