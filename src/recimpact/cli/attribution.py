"""``recimpact attribution``: create, describe, update, delete and list metric attributions.

Requests are JSON files in the shape of the API's (CreateMetricAttribution, UpdateMetricAttribution), the same
documents ``aws personalize create-metric-attribution --cli-input-json`` takes, sent through boto3."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from recimpact.cli.output import OutputFormat, aws_errors, console, fail, print_json, print_rows, print_table

attribution_app = typer.Typer(
    help="Create, describe, update, delete and list metric attributions (requests as JSON files).",
    no_args_is_help=True,
)

EndpointUrl = Annotated[str, typer.Option(envvar="RECIMPACT_ENDPOINT_URL", help="The server's URL.")]
Format = Annotated[OutputFormat, typer.Option("--format", help="table, json or csv.")]
RequestFile = Annotated[
    Path,
    typer.Option(
        "--file",
        "-f",
        help="The request as JSON (the API's shape); - reads standard input.",
        allow_dash=True,
    ),
]
METRIC_COLUMNS = ("metricName", "eventType", "expression")


def _read_request(path: Path) -> dict[str, Any]:
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text()
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"{path} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})")
    if not isinstance(doc, dict):
        fail(f"{path} must hold a JSON object (the request), not {type(doc).__name__}")
    return doc


def _client(endpoint_url: str, arn: str | None = None, region: str | None = None) -> Any:
    from recimpact.cli.client import aws_client

    with aws_errors():
        return aws_client("personalize", endpoint_url, region=region, arn=arn)


def _attribution_of_group(personalize: Any, group_arn: str) -> str:
    with aws_errors():
        found = personalize.list_metric_attributions(datasetGroupArn=group_arn)["metricAttributions"]
    if not found:
        fail(f"dataset group {group_arn} has no metric attribution")
    arn: str = found[0]["metricAttributionArn"]
    return arn


def _show(personalize: Any, arn: str, fmt: OutputFormat) -> dict[str, Any]:
    """Describe the attribution (with its metrics) in the chosen format; returns the description."""
    with aws_errors():
        attribution = personalize.describe_metric_attribution(metricAttributionArn=arn)["metricAttribution"]
        metrics = personalize.list_metric_attribution_metrics(metricAttributionArn=arn)["metrics"]
    rows = [[m[c] for c in METRIC_COLUMNS] for m in metrics]
    if fmt == OutputFormat.json:
        print_json({"metricAttribution": attribution, "metrics": metrics})
    elif fmt == OutputFormat.csv:
        print_rows(fmt, METRIC_COLUMNS, rows)
    else:
        output = attribution.get("metricsOutputConfig") or {}
        destination = output.get("s3DataDestination") or {}
        fields = [
            ("name", attribution["name"]),
            ("ARN", attribution["metricAttributionArn"]),
            ("status", attribution["status"]),
            ("failure reason", attribution.get("failureReason")),
            ("dataset group", attribution["datasetGroupArn"]),
            ("output path", destination.get("path")),
            ("KMS key", destination.get("kmsKeyArn")),
            ("IAM role", output.get("roleArn")),
            ("created", attribution.get("creationDateTime")),
            ("updated", attribution.get("lastUpdatedDateTime")),
        ]
        print_table(None, ("field", "value"), [(k, v) for k, v in fields if v is not None])
        print_table(f"{len(metrics)} metrics", METRIC_COLUMNS, rows)
    return dict(attribution)


def _failed(attribution: dict[str, Any]) -> None:
    if attribution.get("status") == "CREATE FAILED":
        fail(f"metric attribution is CREATE FAILED: {attribution.get('failureReason')}")


@attribution_app.command("create")
def create(
    endpoint_url: EndpointUrl,
    request_file: RequestFile,
    dataset_group_arn: Annotated[
        str | None, typer.Option(help="Overrides the file's datasetGroupArn (one file for several groups).")
    ] = None,
    name: Annotated[str | None, typer.Option(help="Overrides the file's name.")] = None,
    output_format: Format = OutputFormat.table,
) -> None:
    """Create a metric attribution from a CreateMetricAttribution request, then describe it."""
    request = _read_request(request_file)
    if dataset_group_arn:
        request["datasetGroupArn"] = dataset_group_arn
    if name:
        request["name"] = name
    group = request.get("datasetGroupArn")
    personalize = _client(endpoint_url, arn=group if isinstance(group, str) and group else None)
    with aws_errors():
        arn = personalize.create_metric_attribution(**request)["metricAttributionArn"]
    if output_format == OutputFormat.table:
        console.print(f"created {arn}", highlight=False, soft_wrap=True)
    _failed(_show(personalize, arn, output_format))


@attribution_app.command("describe")
def describe(
    endpoint_url: EndpointUrl,
    metric_attribution_arn: Annotated[str | None, typer.Option(help="The attribution to describe.")] = None,
    dataset_group_arn: Annotated[
        str | None, typer.Option(help="Or: the dataset group whose attribution to describe.")
    ] = None,
    output_format: Format = OutputFormat.table,
) -> None:
    """The attribution's definition and metrics (csv: one row per metric)."""
    if bool(metric_attribution_arn) == bool(dataset_group_arn):
        fail("give one of --metric-attribution-arn or --dataset-group-arn")
    personalize = _client(endpoint_url, arn=metric_attribution_arn or dataset_group_arn)
    arn = metric_attribution_arn or _attribution_of_group(personalize, str(dataset_group_arn))
    _show(personalize, arn, output_format)


@attribution_app.command("update")
def update(
    endpoint_url: EndpointUrl,
    request_file: RequestFile,
    metric_attribution_arn: Annotated[
        str | None, typer.Option(help="Overrides the file's metricAttributionArn.")
    ] = None,
    output_format: Format = OutputFormat.table,
) -> None:
    """Apply an UpdateMetricAttribution request (addMetrics, removeMetrics, metricsOutputConfig), then describe."""
    request = _read_request(request_file)
    if metric_attribution_arn:
        request["metricAttributionArn"] = metric_attribution_arn
    arn = request.get("metricAttributionArn")
    if not isinstance(arn, str) or not arn:
        fail("the request has no metricAttributionArn: put it in the file or pass --metric-attribution-arn")
    personalize = _client(endpoint_url, arn=arn)
    with aws_errors():
        personalize.update_metric_attribution(**request)
    if output_format == OutputFormat.table:
        console.print(f"updated {arn}", highlight=False, soft_wrap=True)
    _show(personalize, arn, output_format)


@attribution_app.command("delete")
def delete(
    endpoint_url: EndpointUrl,
    metric_attribution_arn: Annotated[str, typer.Option(help="The attribution to delete.")],
) -> None:
    """Delete an attribution: reporting stops; reports and series already published stay."""
    personalize = _client(endpoint_url, arn=metric_attribution_arn)
    with aws_errors():
        personalize.delete_metric_attribution(metricAttributionArn=metric_attribution_arn)
    console.print(f"deleted {metric_attribution_arn}", highlight=False, soft_wrap=True)


@attribution_app.command("list")
def list_(
    endpoint_url: EndpointUrl,
    dataset_group_arn: Annotated[str | None, typer.Option(help="Only this dataset group's.")] = None,
    region: Annotated[
        str | None, typer.Option(envvar="AWS_DEFAULT_REGION", help="Region, when no --dataset-group-arn.")
    ] = None,
    output_format: Format = OutputFormat.table,
) -> None:
    """Metric attributions, newest first."""
    personalize = _client(endpoint_url, arn=dataset_group_arn, region=None if dataset_group_arn else region)
    params = {"datasetGroupArn": dataset_group_arn} if dataset_group_arn else {}
    found: list[dict[str, Any]] = []
    with aws_errors():
        for page in personalize.get_paginator("list_metric_attributions").paginate(**params):
            found.extend(page["metricAttributions"])
    columns = ("name", "metricAttributionArn", "status", "creationDateTime")
    rows = [[a.get(c) for c in columns] for a in found]
    if output_format == OutputFormat.json:
        print_json(found)
    else:
        print_rows(output_format, columns, rows, title="Metric attributions")
