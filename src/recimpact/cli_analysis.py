"""Analyses beyond what Personalize offers: ``recimpact backfill`` (count the stored events the live series left
out) and ``recimpact compare`` (two sources, with intervals)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from recimpact.cli_output import OutputFormat, console, fail, print_json, print_rows

EndpointUrl = Annotated[str, typer.Option(envvar="RECIMPACT_ENDPOINT_URL", help="The server's URL.")]
Format = Annotated[OutputFormat, typer.Option("--format", help="table, json or csv.")]


def backfill(
    endpoint_url: EndpointUrl,
    metric_attribution_arn: Annotated[str, typer.Option(help="The attribution whose series to complete.")],
    since: Annotated[
        str, typer.Option(help="Earliest event time: epoch seconds, ISO 8601 or relative (-30d).")
    ],
    publish: Annotated[
        bool, typer.Option("--publish/--no-publish", help="Publish the added counts to CloudWatch.")
    ] = True,
    report: Annotated[
        bool, typer.Option("--report", help="Also write a report file of the windows from --since on.")
    ] = False,
    output_format: Format = OutputFormat.table,
) -> None:
    """Count stored events the live series left out (received before the attribution or a metric existed, or more
    than 14 days late), from --since on, without ever counting one twice."""
    from recimpact.client import ApiError
    from recimpact.client import backfill as request_backfill

    try:
        result = request_backfill(endpoint_url, metric_attribution_arn, since, publish, report)
    except ApiError as exc:
        fail(str(exc))
    if output_format == OutputFormat.json:
        print_json(result)
        return
    rows = [
        [name, _time(c["since"]), _time(c["receivedBefore"])]
        for name, c in sorted(result["coverage"].items())
    ]
    columns = ["metric", "event_time_from", "received_before"]
    if output_format == OutputFormat.csv:
        print_rows(output_format, columns, rows)
        return
    console.print(
        f"scanned {result['eventsScanned']:,} stored events; {result['eventsCounted']:,} counted now, in "
        f"{result['windowsUpdated']:,} series windows",
        highlight=False,
    )
    print_rows(output_format, columns, rows, title="Counted by backfills so far")
    if result.get("report"):
        console.print(f"report: {result['report']}", soft_wrap=True, highlight=False)


def _time(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
