"""Publishing the live series to CloudWatch (SPEC §4), off the ingest path.

Namespace ``AWS/Personalize``; MetricName the upper-cased metric name; dimensions exactly ``EventAttributionSource``
(the upper-cased source) and ``DatasetGroupArn``; one datum per changed window, timestamped at the window start.

CloudWatch's ``Sum`` adds every datum of a period, so a window re-published after late events must send only what
changed: each series row remembers the value last published, and the publisher sends the difference. A row is
marked published only after CloudWatch accepted it; a crash between the two re-sends that delta once (at least
once, never lost). Failures back off exponentially and never touch ingest, which only writes the rows.

CloudWatch refuses a whole PutMetricData call when one datum breaks one of its limits, and the same call retried
would stop publishing for every dataset group. So each datum is checked first against what CloudWatch takes
(botocore's model of MetricDatum, plus the rules its documentation adds), and a call refused anyway for its data is
split in halves down to the datum at fault. A datum CloudWatch cannot take is set aside: logged, counted in
``refused`` and marked published, so it is never re-sent (the live series keeps its value). Throttling, server
errors and lost connections say nothing about the data: they fail the round, retried after a back-off.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

import botocore.session
from botocore.exceptions import ClientError, ParamValidationError

from recimpact.domain.arns import parse_arn
from recimpact.domain.attribution import LIVE_MAX_AGE_SECONDS, RATIO_DENOMINATOR, RATIO_NUMERATOR
from recimpact.domain.resources import MetricAttribution
from recimpact.domain.values import number_problem
from recimpact.store.catalog import Catalog
from recimpact.store.interfaces import EventStore, IngestTx
from recimpact.store.series import SeriesKey, SeriesPoint

log = logging.getLogger("recimpact.cloudwatch")

NAMESPACE = "AWS/Personalize"
_BATCH = 500  # PutMetricData accepts up to 1,000 datums per call
_READ = 5000  # changed windows read from the event store at a time
_MAX_BACKOFF_SECONDS = 60.0
# CloudWatch takes timestamps up to two hours ahead of its clock (PutMetricData); five minutes are left for its
# clock and ours to differ.
_MAX_AHEAD_SECONDS = 2 * 3600 - 300
# CloudWatch's documentation adds to the model that dimension names and values are printable ASCII with at least one
# non-space character (Dimension); a value's range and finiteness are ``number_problem``'s rule (MetricDatum.Value).
_DIMENSION_TEXT = re.compile(r"[\x20-\x7e]*[\x21-\x7e][\x20-\x7e]*")

Pending = tuple[SeriesPoint, dict[str, Any]]  # a changed window and the datum that publishes it


def metric_name(key: SeriesKey) -> str:
    """A RATIO's parts are published as two Sum metrics, ``<NAME>_NUMERATOR`` and ``<NAME>_DENOMINATOR``: CloudWatch
    sums datums, so the quotient is taken with metric math (``m1 / m2``) over whatever period is graphed."""
    if key.function == RATIO_NUMERATOR:
        return f"{key.metric_name}_NUMERATOR"
    if key.function == RATIO_DENOMINATOR:
        return f"{key.metric_name}_DENOMINATOR"
    return key.metric_name


def datum(point: SeriesPoint, dataset_group_arn: str) -> dict[str, Any]:
    key = point.key
    return {
        "MetricName": metric_name(key),
        "Dimensions": [
            {"Name": "EventAttributionSource", "Value": key.source.upper()},
            {"Name": "DatasetGroupArn", "Value": dataset_group_arn},
        ],
        "Timestamp": dt.datetime.fromtimestamp(key.window_start, dt.UTC),
        "Value": point.value - point.published,
    }


@functools.cache
def _model() -> Any:
    return botocore.session.get_session().get_service_model("cloudwatch")


def datum_problem(item: dict[str, Any]) -> str | None:
    """Why CloudWatch would refuse ``item``, a MetricDatum, or None. Its timestamp is not checked: the publisher
    reads only windows CloudWatch takes."""
    problem = _shape_problem(_model().shape_for("MetricDatum"), item, "MetricDatum")
    if problem is not None:
        return problem
    for dimension in item["Dimensions"]:
        if not (
            _DIMENSION_TEXT.fullmatch(dimension["Name"]) and _DIMENSION_TEXT.fullmatch(dimension["Value"])
        ):
            return f"the {dimension['Name']} dimension is not printable ASCII with a non-space character"
    problem = number_problem(item["Value"])
    return None if problem is None else f"Value {item['Value']!r} {problem}"


def _shape_problem(shape: Any, value: Any, where: str) -> str | None:
    """The first constraint of botocore's model (required members, lengths, list maxima, patterns) ``value``
    breaks."""
    if shape.type_name == "structure":
        missing = [name for name in shape.required_members if name not in value]
        if missing:
            return f"{where}.{missing[0]} is missing"
        problems = (_shape_problem(shape.members[name], v, f"{where}.{name}") for name, v in value.items())
        return next((p for p in problems if p is not None), None)
    if shape.type_name not in ("string", "list"):
        return None
    low, high = shape.metadata.get("min", 0), shape.metadata.get("max")
    if not low <= len(value) <= (high if high is not None else len(value)):
        unit = "characters" if shape.type_name == "string" else "members"
        return f"{where} has {len(value)} {unit}; CloudWatch takes {low} to {high}"
    if shape.type_name == "list":
        problems = (_shape_problem(shape.member, v, f"{where}.{n}") for n, v in enumerate(value, 1))
        return next((p for p in problems if p is not None), None)
    pattern = shape.metadata.get("pattern")
    if pattern is not None and not re.fullmatch(pattern, value):
        return f"{where} does not match CloudWatch's pattern {pattern}"
    return None


@functools.cache
def _data_errors() -> frozenset[str]:
    """The errors that blame the data sent: those PutMetricData declares as the sender's fault (InvalidParameterValue,
    MissingParameter, InvalidParameterCombination; by code, and by shape name as the JSON protocol names them), and
    ValidationError, the answer of AWS's query services to a broken model constraint. Throttling, server errors and
    credentials are not among them: they say nothing about a datum, and splitting on them would set good data
    aside."""
    codes = {"ValidationError"}
    for shape in _model().operation_model("PutMetricData").error_shapes:
        error = shape.metadata.get("error", {})
        if error.get("senderFault"):
            codes |= {shape.name, error["code"]}
    return frozenset(codes)


def _refusal(exc: Exception) -> str | None:
    """Why a batch was refused for its data (by CloudWatch, or by botocore before sending), or None."""
    if isinstance(exc, ParamValidationError):
        return str(exc)
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        # 413: over PutMetricData's 1 MB per request (long sources); each half is smaller.
        too_large = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") == 413
        if too_large or error.get("Code") in _data_errors():
            return f"{error.get('Code')}: {error.get('Message')}"
    return None


class CloudWatchPublisher:
    """``refused`` counts the datums set aside because CloudWatch cannot take them."""

    def __init__(
        self,
        events: EventStore,
        catalog: Catalog,
        client_for_region: Callable[[str], Any],
        interval: float = 2.0,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._events = events
        self._catalog = catalog
        self._client_for_region = client_for_region
        self._clients: dict[str, Any] = {}
        self._interval = interval
        self._clock = clock or time.time
        self.refused = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="recimpact-cloudwatch", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _run(self) -> None:
        backoff = self._interval
        while not self._stop.wait(backoff):
            try:
                self.publish_pending()
            except Exception as exc:
                backoff = min(max(backoff * 2, 1.0), _MAX_BACKOFF_SECONDS)
                log.warning("CloudWatch publishing failed, retrying in %.0f s: %s", backoff, exc)
            else:
                backoff = self._interval

    def publish_pending(self) -> int:
        """Publish every changed window CloudWatch can take; returns how many datums it accepted."""
        sent = 0
        while True:
            now = self._clock()
            # The windows CloudWatch can take now, and those too far ahead to wait for (abandoned below): one in
            # between is not read until its time comes, so any number of them never holds back the rest.
            points = self._events.unpublished(_READ, now + _MAX_AHEAD_SECONDS, now + LIVE_MAX_AGE_SECONDS)
            if not points:
                return sent
            sent += self._publish(points, now)
            if len(points) < _READ:
                return sent

    def _publish(self, points: list[SeriesPoint], now: float) -> int:
        with self._catalog.transaction() as tx:
            owners = {a.series_id: a for a in tx.every(MetricAttribution)}
        abandoned: list[tuple[SeriesKey, float]] = []
        refused: list[tuple[Pending, str]] = []
        by_region: dict[str, list[Pending]] = defaultdict(list)
        for point in points:
            owner = owners.get(point.key.series_id)
            window = point.key.window_start
            # A deleted attribution publishes nothing more; CloudWatch refuses data older than two weeks, and a window
            # more than two weeks ahead (a client whose clock is far off) is not worth waiting for. Such
            # windows stay in the live series only.
            if owner is None or not now - LIVE_MAX_AGE_SECONDS <= window <= now + _MAX_AHEAD_SECONDS:
                abandoned.append((point.key, point.value))
                continue
            item = datum(point, owner.dataset_group_arn)
            problem = datum_problem(item)
            if problem is not None:
                refused.append(((point, item), problem))
            else:
                by_region[parse_arn(owner.dataset_group_arn).region].append((point, item))
        if abandoned:
            self._mark_published(abandoned)
        if refused:
            self._set_aside(refused)
        sent = 0
        for region, pending in by_region.items():
            client = self._clients.get(region)
            if client is None:
                client = self._clients[region] = self._client_for_region(region)
            for i in range(0, len(pending), _BATCH):
                sent += self._put(client, pending[i : i + _BATCH])
        return sent

    def _put(self, client: Any, batch: list[Pending]) -> int:
        """Send ``batch``; if it is refused for its data, send each half on its own, down to the datums at fault, so
        every other datum is published. Any other failure is raised, with what was accepted already marked."""
        try:
            client.put_metric_data(Namespace=NAMESPACE, MetricData=[item for _, item in batch])
        except (ClientError, ParamValidationError) as exc:
            reason = _refusal(exc)
            if reason is None:
                raise
            if len(batch) == 1:
                self._set_aside([(batch[0], reason)])
                return 0
            half = len(batch) // 2
            return self._put(client, batch[:half]) + self._put(client, batch[half:])
        self._mark_published([(point.key, point.value) for point, _ in batch])
        return len(batch)

    def _set_aside(self, refused: list[tuple[Pending, str]]) -> None:
        for (point, item), reason in refused:
            key = point.key
            dimensions = {d["Name"]: d["Value"] for d in item["Dimensions"]}
            log.warning(
                "CloudWatch cannot take a datum, set aside (the live series keeps it): dataset group %s, series %s,"
                " metric %s, source %r, window %s: %s",
                dimensions["DatasetGroupArn"],
                key.series_id,
                item["MetricName"],
                key.source if len(key.source) <= 100 else f"{key.source[:100]}...",
                item["Timestamp"].isoformat(),
                reason,
            )
        self._mark_published([(point.key, point.value) for (point, _), _ in refused])
        self.refused += len(refused)

    def _mark_published(self, points: list[tuple[SeriesKey, float]]) -> None:
        def work(tx: IngestTx) -> None:
            tx.mark_published(points)

        self._events.submit(work).result()
