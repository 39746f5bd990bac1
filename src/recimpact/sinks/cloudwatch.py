"""Publishing the live series to CloudWatch (SPEC §4), off the ingest path.

Namespace ``AWS/Personalize``; MetricName the upper-cased metric name; dimensions exactly ``EventAttributionSource``
(the upper-cased source) and ``DatasetGroupArn``; one datum per changed window, timestamped at the window start.

CloudWatch's ``Sum`` adds every datum of a period, so a window re-published after late events must send only what
changed: each series row remembers the value last published, and the publisher sends the difference. A row is
marked published only after CloudWatch accepted it; a crash between the two re-sends that delta once (at least
once, never lost). Failures back off exponentially and never touch ingest, which only writes the rows.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from typing import Any

from recimpact.domain.arns import parse_arn
from recimpact.domain.attribution import LIVE_MAX_AGE_SECONDS, RATIO_DENOMINATOR, RATIO_NUMERATOR
from recimpact.domain.resources import MetricAttribution
from recimpact.store.catalog import Catalog
from recimpact.store.events import EventStore, IngestTx, SeriesKey, SeriesPoint

log = logging.getLogger("recimpact.cloudwatch")

NAMESPACE = "AWS/Personalize"
_BATCH = 500  # PutMetricData accepts up to 1,000 datums per call
_MAX_BACKOFF_SECONDS = 60.0
# CloudWatch refuses a whole PutMetricData call if one datum is more than two hours ahead, or not a finite number.
_MAX_AHEAD_SECONDS = 2 * 3600


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


class CloudWatchPublisher:
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
        """Publish every changed window; returns how many datums were sent."""
        sent = 0
        while True:
            points = self._events.unpublished(limit=5000)
            if not points:
                return sent
            sent += self._publish(points)
            if len(points) < 5000:
                return sent

    def _publish(self, points: list[SeriesPoint]) -> int:
        with self._catalog.transaction() as tx:
            owners = {a.series_id: a for a in tx.every(MetricAttribution)}
        now = self._clock()
        oldest = now - LIVE_MAX_AGE_SECONDS
        abandoned: list[tuple[SeriesKey, float]] = []
        by_region: dict[str, list[tuple[SeriesPoint, str]]] = defaultdict(list)
        for point in points:
            owner = owners.get(point.key.series_id)
            window = point.key.window_start
            # A deleted attribution publishes nothing more; CloudWatch refuses data older than two weeks. One datum
            # CloudWatch cannot take must not block the rest: a window far ahead (a client sending milliseconds for
            # seconds) or a non-finite value is left out of CloudWatch (it stays in the live series).
            if (
                owner is None
                or window < oldest
                or window > now + LIVE_MAX_AGE_SECONDS
                or not math.isfinite(point.value - point.published)
            ):
                abandoned.append((point.key, point.value))
                continue
            if window > now + _MAX_AHEAD_SECONDS:
                continue  # a little ahead (a client's clock): published once CloudWatch accepts the timestamp
            by_region[parse_arn(owner.dataset_group_arn).region].append((point, owner.dataset_group_arn))
        sent = 0
        for region, pending in by_region.items():
            client = self._clients.get(region)
            if client is None:
                client = self._clients[region] = self._client_for_region(region)
            for i in range(0, len(pending), _BATCH):
                chunk = pending[i : i + _BATCH]
                client.put_metric_data(Namespace=NAMESPACE, MetricData=[datum(p, arn) for p, arn in chunk])
                self._mark_published([(p.key, p.value) for p, _ in chunk])
                sent += len(chunk)
        if abandoned:
            self._mark_published(abandoned)
        return sent

    def _mark_published(self, points: list[tuple[SeriesKey, float]]) -> None:
        def work(tx: IngestTx) -> None:
            tx.mark_published(points)

        self._events.submit(work).result()
