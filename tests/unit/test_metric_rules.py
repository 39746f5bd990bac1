"""The metric list rules on create and update, each with the exception class metric_rules.py's table names."""

from __future__ import annotations

import pytest

from recimpact.domain.errors import (
    InvalidInputException,
    LimitExceededException,
    ResourceAlreadyExistsException,
    ServiceError,
)
from recimpact.domain.metric_rules import (
    MAX_METRICS,
    apply_update,
    check_interactions_schema,
    check_new_metrics,
)
from recimpact.domain.resources import Metric
from recimpact.domain.schema import Column, DatasetSchema

SCHEMAS = {
    "INTERACTIONS": DatasetSchema(
        (
            Column("USER_ID", "string", False),
            Column("ITEM_ID", "string", False),
            Column("TIMESTAMP", "long", False),
            Column("EVENT_TYPE", "string", False),
            Column("EVENT_VALUE", "float", True),
        )
    ),
    "ITEMS": DatasetSchema(
        (
            Column("ITEM_ID", "string", False),
            Column("MARGIN", "double", False),
            Column("CATEGORY", "string", False, categorical=True),
        )
    ),
}


def metric(name: str, expression: str = "SAMPLECOUNT()", event_type: str = "View") -> Metric:
    return Metric(event_type=event_type, metric_name=name, expression=expression, counting_since=0.0)


def many(count: int, prefix: str = "m") -> list[Metric]:
    return [metric(f"{prefix}{i}") for i in range(count)]


def raises_exactly(cls: type[ServiceError]) -> pytest.RaisesExc[ServiceError]:
    """The wire name is the class: a subclass or a sibling would be a different error for the client."""
    return pytest.raises(ServiceError, check=lambda e: type(e) is cls)


# --- create -------------------------------------------------------------------------------------------------


def test_seed_metrics_are_accepted() -> None:
    check_new_metrics(
        [metric("countViews"), metric("sumMargin", "SUM(ITEMS.MARGIN)", "Purchase")],
        SCHEMAS,
    )


def test_create_up_to_the_limit() -> None:
    check_new_metrics(many(MAX_METRICS), SCHEMAS)


def test_create_over_the_limit_is_invalid_input() -> None:
    assert MAX_METRICS == 10
    with raises_exactly(InvalidInputException):
        check_new_metrics(many(MAX_METRICS + 1), SCHEMAS)


def test_create_needs_at_least_one_metric() -> None:
    with raises_exactly(InvalidInputException):
        check_new_metrics([], SCHEMAS)


@pytest.mark.parametrize("second", ["clicks", "CLICKS", "Clicks"])
def test_create_duplicate_names_case_insensitively_is_invalid_input(second: str) -> None:
    with raises_exactly(InvalidInputException):
        check_new_metrics([metric("clicks"), metric(second, event_type="Click")], SCHEMAS)


@pytest.mark.parametrize(
    "bad",
    [
        metric("x", "COUNT()"),
        metric("x", "SUM(ITEMS.NOPE)"),
        metric("x", "SUM(ITEMS.CATEGORY)"),
        metric("x", "SUM(USERS.AGE)"),
        metric("x", event_type="   "),
        metric("  "),
    ],
)
def test_create_with_a_bad_metric_is_invalid_input(bad: Metric) -> None:
    with raises_exactly(InvalidInputException):
        check_new_metrics([metric("ok"), bad], SCHEMAS)


def test_create_sum_over_items_without_items_dataset() -> None:
    with raises_exactly(InvalidInputException):
        check_new_metrics([metric("m", "SUM(ITEMS.MARGIN)")], {"INTERACTIONS": SCHEMAS["INTERACTIONS"]})


def test_interactions_schema_is_required_with_event_type() -> None:
    check_interactions_schema(SCHEMAS)
    with raises_exactly(InvalidInputException):
        check_interactions_schema({"ITEMS": SCHEMAS["ITEMS"]})
    without_event_type = DatasetSchema(
        tuple(c for c in SCHEMAS["INTERACTIONS"].columns if c.name != "EVENT_TYPE")
    )
    with raises_exactly(InvalidInputException):
        check_interactions_schema({"INTERACTIONS": without_event_type})


# --- update -------------------------------------------------------------------------------------------------


def names(metrics: list[Metric]) -> list[str]:
    return [m.metric_name for m in metrics]


def test_update_keeps_order_removes_then_appends() -> None:
    current = [metric("a"), metric("b"), metric("c")]
    result = apply_update(current, [metric("d"), metric("e")], ["b"], SCHEMAS)
    assert names(result) == ["a", "c", "d", "e"]
    assert names(current) == ["a", "b", "c"]  # the input is not mutated


def test_update_remove_is_case_insensitive() -> None:
    assert names(apply_update([metric("Clicks"), metric("views")], [], ["CLICKS"], SCHEMAS)) == ["views"]


def test_update_removing_an_unknown_name_is_invalid_input() -> None:
    with raises_exactly(InvalidInputException) as info:
        apply_update([metric("a")], [], ["a", "ghost"], SCHEMAS)
    assert "ghost" in str(info.value)


def test_update_remove_then_add_same_name_replaces() -> None:
    current = [metric("a"), metric("margin"), metric("c")]
    replacement = metric("MARGIN", "SUM(ITEMS.MARGIN)", "Purchase")
    result = apply_update(current, [replacement], ["margin"], SCHEMAS)
    assert names(result) == ["a", "c", "MARGIN"]
    assert result[-1] == replacement


@pytest.mark.parametrize("added", ["a", "A"])
def test_update_adding_an_existing_name_is_already_exists(added: str) -> None:
    with raises_exactly(ResourceAlreadyExistsException):
        apply_update([metric("a"), metric("b")], [metric(added)], [], SCHEMAS)


def test_update_adding_the_same_name_twice_is_already_exists() -> None:
    with raises_exactly(ResourceAlreadyExistsException):
        apply_update([metric("a")], [metric("new"), metric("NEW")], [], SCHEMAS)


def test_update_up_to_the_limit() -> None:
    result = apply_update(many(MAX_METRICS - 2), many(2, "n"), [], SCHEMAS)
    assert len(result) == MAX_METRICS


def test_update_over_the_limit_is_limit_exceeded() -> None:
    with raises_exactly(LimitExceededException):
        apply_update(many(MAX_METRICS), [metric("one_more")], [], SCHEMAS)


def test_update_limit_counts_after_removals() -> None:
    result = apply_update(many(MAX_METRICS), [metric("x"), metric("y")], ["m0", "m1"], SCHEMAS)
    assert len(result) == MAX_METRICS
    assert names(result)[-2:] == ["x", "y"]


def test_update_with_an_invalid_added_metric_is_invalid_input() -> None:
    with raises_exactly(InvalidInputException):
        apply_update([metric("a")], [metric("b", "SUM(ITEMS.CATEGORY)")], [], SCHEMAS)


def test_update_does_not_recheck_kept_metrics() -> None:
    # A kept metric is not re-validated: the schemas it was checked against may no longer be at hand.
    kept = metric("margin", "SUM(ITEMS.MARGIN)")
    result = apply_update([kept], [metric("views")], [], {"INTERACTIONS": SCHEMAS["INTERACTIONS"]})
    assert names(result) == ["margin", "views"]


def test_update_without_changes_returns_the_same_metrics() -> None:
    current = [metric("a"), metric("b")]
    assert apply_update(current, [], [], SCHEMAS) == current
