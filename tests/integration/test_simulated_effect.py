"""End to end: `recimpact simulate` drives live traffic through GetRecommendations and PutEvents with a known true
effect, and the attribution recovers it. Two recommenders of the same recipe, trained on the same data, fill
identical carousels; one is given a 30% conversion lift. The attribution's per-source counts must equal what the
simulator sent, and the measured conversion ratio must be the injected one within statistical tolerance."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from recimpact.cli.client import get_series
from recimpact.simulate import RetailSite
from tests.conftest import AWS_TEST_ENV, output_config, unique
from tests.retail import RetailGroup, wait_recommender
from tests.server import ServerProcess

SEED, USERS, ITEMS = 11, 600, 300
CART, PURCHASE = 0.3, 0.6
LIFT = 1.3


def test_injected_lift_is_recovered(server: ServerProcess, personalize: Any, tmp_path: Path) -> None:
    site = RetailSite(seed=SEED, n_items=ITEMS, n_users=USERS, add_to_cart_rate=CART, purchase_rate=PURCHASE)
    retail = RetailGroup(personalize, tmp_path, site, sessions=1_500)
    control = retail.recommender(personalize, "aws-ecomm-recommended-for-you")
    better = retail.recommender(personalize, "aws-ecomm-recommended-for-you")
    for arn in (control, better):
        assert wait_recommender(personalize, arn)["status"] == "ACTIVE"
    attribution = personalize.create_metric_attribution(
        name=unique("ma"),
        datasetGroupArn=retail.arn,
        metrics=[
            {"eventType": "View", "expression": "SAMPLECOUNT()", "metricName": "views"},
            {"eventType": "Purchase", "expression": "SAMPLECOUNT()", "metricName": "purchases"},
        ],
        metricsOutputConfig=output_config(),
    )["metricAttributionArn"]
    command = [
        sys.executable, "-m", "recimpact", "simulate",
        "--endpoint-url", server.url,
        "--tracking-id", retail.tracking_id,
        "--recommender", control,
        "--recommender", better,
        "--third-party", "partner_carousel",
        "--lift", f"{better}={LIFT}",
        "--sessions", "3000", "--hours", "12",
        "--seed", str(SEED), "--users", str(USERS), "--items", str(ITEMS),
        "--add-to-cart-rate", str(CART), "--purchase-rate", str(PURCHASE),
        "--randomize-by-user", "--format", "json",
    ]  # fmt: skip
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=600, env={**os.environ, **AWS_TEST_ENV}, check=False
    )
    assert done.returncode == 0, done.stderr
    sent = {row["source"]: row for row in json.loads(done.stdout)}
    assert set(sent) == {control, better, "partner_carousel"}

    measured: defaultdict[str, defaultdict[str, float]] = defaultdict(lambda: defaultdict(float))
    for row in get_series(server.url, attribution, None, None)["rows"]:
        measured[row["EVENT_ATTRIBUTION_SOURCE"]][row["METRIC_NAME"]] += float(row["VALUE"])
    for source, row in sent.items():
        assert measured[source]["VIEWS"] == row["View"], source
        assert measured[source]["PURCHASES"] == row["Purchase"], source

    def conversion(source: str) -> float:
        return measured[source]["PURCHASES"] / measured[source]["VIEWS"]

    assert (
        measured[control]["PURCHASES"] > 500
    )  # enough conversions for a ±15% tolerance (> 3 standard errors)
    ratio = conversion(better) / conversion(control)
    assert ratio == pytest.approx(LIFT, rel=0.15)

    # `recimpact compare`: purchases per view, B against A, per user. Users were randomized between the sources,
    # so no warning; the interval holds the injected lift and excludes no lift at all. The run is the same every
    # time (seeded history, hence the same models and traffic), so this checks one fixed draw, not a 95% chance.
    compared = subprocess.run(
        [sys.executable, "-m", "recimpact", "compare", "--endpoint-url", server.url,
         "--metric-attribution-arn", attribution, "--metric", "purchases", "--per", "views",
         "--a", control, "--b", better, "--format", "json"],
        capture_output=True, text=True, timeout=120, env={**os.environ, **AWS_TEST_ENV}, check=False,
    )  # fmt: skip
    assert compared.returncode == 0, compared.stderr
    result = json.loads(compared.stdout)
    assert result["kind"] == "RATIO"
    assert result["valueB"] / result["valueA"] == pytest.approx(ratio)
    assert result["liftCi"]["lower"] <= LIFT - 1 <= result["liftCi"]["upper"]
    assert result["liftSequence"]["lower"] <= result["liftCi"]["lower"]  # peek-safe costs width
    assert result["significant"]
    assert not any("randomized" in warning for warning in result["warnings"])
    # The partner's carousel reached other users on the same page of history: per-session sources overlap.
    assert result["unitsA"] > 100
