"""Tokens bound to the listing that issued them (``wire/pagination.py``), without a server."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from recimpact.domain.errors import InvalidNextTokenException
from recimpact.domain.service_names import CONTROL
from recimpact.wire.models import service_model
from recimpact.wire.pagination import TokenBinding


def binding(operation_name: str, **params: Any) -> TokenBinding:
    operation = service_model(CONTROL).operation_model(operation_name)
    found = TokenBinding.of(CONTROL, operation, params)
    assert found is not None
    return found


def test_operations_without_pages_have_no_binding() -> None:
    for name in ("CreateDatasetGroup", "ListTagsForResource", "DescribeSchema"):
        operation = service_model(CONTROL).operation_model(name)
        assert TokenBinding.of(CONTROL, operation, {}) is None


def test_a_token_round_trips_to_the_handlers_cursor() -> None:
    listing = binding("ListDatasets", datasetGroupArn="arn:g")
    token = listing.wrap({"datasets": [], "nextToken": "cursor=="})
    assert token is not None
    assert token["nextToken"] != "cursor=="
    again = binding("ListDatasets", datasetGroupArn="arn:g", maxResults=7)  # page size is not bound
    assert again.unwrap({"nextToken": token["nextToken"], "maxResults": 7}) == {
        "nextToken": "cursor==",
        "maxResults": 7,
    }


@pytest.mark.parametrize(
    "other",
    [
        binding("ListSchemas"),
        binding("ListDatasets", datasetGroupArn="arn:other"),
        binding("ListDatasets"),
        binding("ListRecipes", datasetGroupArn="arn:g"),
    ],
)
def test_another_listing_refuses_the_token(other: TokenBinding) -> None:
    wrapped = binding("ListDatasets", datasetGroupArn="arn:g").wrap({"nextToken": "cursor"})
    assert wrapped is not None
    with pytest.raises(InvalidNextTokenException):
        other.unwrap({"nextToken": wrapped["nextToken"]})


@pytest.mark.parametrize(
    "token",
    [
        "garbage!",
        "é",
        base64.urlsafe_b64encode(b"short").decode(),
        base64.urlsafe_b64encode(b"\x00" * 12).decode(),  # a digest and no cursor
        base64.urlsafe_b64encode(b"\x00" * 12 + "é".encode()).decode(),
    ],
)
def test_tokens_that_do_not_decode_are_refused(token: str) -> None:
    with pytest.raises(InvalidNextTokenException):
        binding("ListSchemas").unwrap({"nextToken": token})


def test_results_without_a_cursor_are_left_alone() -> None:
    listing = binding("ListSchemas")
    assert listing.wrap({"schemas": [], "nextToken": None}) == {"schemas": [], "nextToken": None}
    assert listing.wrap(None) is None
    assert listing.unwrap({"maxResults": 3}) == {"maxResults": 3}
