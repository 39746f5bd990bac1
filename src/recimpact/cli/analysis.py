"""Analyses beyond what Personalize offers: ``recimpact backfill`` (count the stored events the live series left
out) and ``recimpact compare`` (two sources, with intervals)."""

from __future__ import annotations

import datetime as dt
from typing import Annotated

import typer

from recimpact.cli.output import (
    OutputFormat,
    console,
    fail,
    format_interval,
    format_lift,
    format_number,
    print_json,
    print_rows,
)

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
    from recimpact.cli.client import ApiError
    from recimpact.cli.client import backfill as request_backfill

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


def compare(
    endpoint_url: EndpointUrl,
    metric_attribution_arn: Annotated[str, typer.Option(help="The attribution whose metric to compare on.")],
    metric: Annotated[str, typer.Option(help="The metric (its metricName).")],
    source_a: Annotated[
        str, typer.Option("--a", help="The baseline source (name or recommender/campaign ARN).")
    ],
    source_b: Annotated[str, typer.Option("--b", help="The source compared with the baseline.")],
    per: Annotated[
        str | None,
        typer.Option(help="Divide by this metric: a ratio such as margin per view (delta method)."),
    ] = None,
    start: Annotated[
        str | None, typer.Option(help="Range start: epoch, ISO 8601 or relative (-14d).")
    ] = None,
    end: Annotated[str | None, typer.Option(help="Range end (exclusive).")] = None,
    alpha: Annotated[float, typer.Option(help="1 - confidence level.")] = 0.05,
    output_format: Format = OutputFormat.table,
) -> None:
    """Source B against source A on one metric per user: the difference and the relative lift with a fixed-horizon
    and an anytime-valid (peek-safe) interval, and warnings when the comparison cannot be trusted."""
    from recimpact.cli.client import ApiError
    from recimpact.cli.client import compare as request_compare

    try:
        result = request_compare(
            endpoint_url,
            metric_attribution_arn,
            metric,
            source_a,
            source_b,
            per=per,
            start=start,
            end=end,
            alpha=alpha,
        )
    except ApiError as exc:
        fail(str(exc))
    if output_format == OutputFormat.json:
        print_json(result)
        return
    level = f"{1 - result['alpha']:.0%}"
    name = result["metric"] + (f" per {result['per']}" if result["per"] else " per user")
    rows = [
        ["units (users)", f"{result['unitsA']:,}", f"{result['unitsB']:,}", "", ""],
        [name, format_number(result["valueA"]), format_number(result["valueB"]), "", ""],
        ["difference (B − A)", "", format_number(result["difference"]), format_interval(result["differenceCi"]),
         format_interval(result["differenceSequence"])],
        ["lift (B / A − 1)", "", format_lift(result["lift"]), format_interval(result["liftCi"], percent=True),
         format_interval(result["liftSequence"], percent=True)],
        ["p-value", "", format_number(result["pValue"]), "", format_number(result["sequentialPValue"])],
    ]  # fmt: skip
    columns = ["", "A", "B", f"{level} interval", f"{level} anytime-valid"]
    if output_format == OutputFormat.csv:
        print_rows(output_format, columns, rows)
        return
    print_rows(output_format, columns, rows, title=f"B = {source_b}  vs  A = {source_a}")
    for warning in result["warnings"]:
        console.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
