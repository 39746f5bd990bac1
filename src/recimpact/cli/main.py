"""The ``recimpact`` command line (Typer + Rich)."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from recimpact.cli.analysis import backfill, compare
from recimpact.cli.attribution import attribution_app
from recimpact.cli.output import OutputFormat, console, errors, fail, print_table, run
from recimpact.cli.simulate import simulate
from recimpact.settings import ENGINES, Settings, default_data_dir, env_flag

app = typer.Typer(
    name="recimpact",
    help="Measure the business impact of recommendations: an AWS-compatible metric attribution service.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.command()
def serve(
    host: Annotated[str, typer.Option(envvar="RECIMPACT_HOST", help="Address to bind.")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(envvar="RECIMPACT_PORT", help="Port to bind; 0 picks a free one.")
    ] = 8787,
    data_dir: Annotated[
        Path | None, typer.Option(envvar="RECIMPACT_DATA_DIR", help="Where state lives.", show_default=False)
    ] = None,
    engine: Annotated[
        str, typer.Option(envvar="RECIMPACT_ENGINE", help="Bulk engine: duckdb or spark.")
    ] = "duckdb",
    spark_master: Annotated[
        str, typer.Option(envvar="RECIMPACT_SPARK_MASTER", help="Spark master URL.")
    ] = "local[*]",
    s3_endpoint_url: Annotated[
        str | None,
        typer.Option(envvar="RECIMPACT_S3_ENDPOINT_URL", help="S3-compatible endpoint for s3:// paths."),
    ] = None,
    cloudwatch_endpoint_url: Annotated[
        str | None,
        typer.Option(envvar="RECIMPACT_CLOUDWATCH_ENDPOINT_URL", help="CloudWatch endpoint to publish to."),
    ] = None,
    credentials: Annotated[
        Path | None,
        typer.Option(envvar="RECIMPACT_CREDENTIALS", help="CSV: access_key_id,secret_access_key,account_id."),
    ] = None,
    cloudwatch_interval: Annotated[
        float,
        typer.Option(
            envvar="RECIMPACT_CLOUDWATCH_INTERVAL", help="Seconds between CloudWatch publishing rounds."
        ),
    ] = 2.0,
    log_level: Annotated[
        str, typer.Option(envvar="RECIMPACT_LOG_LEVEL", help="uvicorn log level.")
    ] = "warning",
    strict_aws: Annotated[
        bool,
        typer.Option(
            envvar="RECIMPACT_STRICT_AWS",
            help="Accept only what AWS accepts: refuse the IMPRESSIONCOUNT() and RATIO() metric expressions.",
        ),
    ] = False,
    access_log: Annotated[
        bool,
        typer.Option(envvar="RECIMPACT_ACCESS_LOG", help="One JSON line per request on stderr (no secrets)."),
    ] = False,
    workers: Annotated[
        int,
        typer.Option(
            envvar="RECIMPACT_WORKERS",
            min=1,
            help="Server processes sharing the port and the data; one per core to use them all for ingest.",
        ),
    ] = 1,
) -> None:
    """Run the server: boto3's personalize, personalize-events and personalize-runtime clients talk to it."""
    from recimpact.wire.server import is_loopback
    from recimpact.wire.server import serve as run_server
    from recimpact.wire.workers import supervise

    if engine not in ENGINES:
        fail(f"--engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    if credentials is not None:
        from recimpact.wire.auth import CredentialsFileError, load_credentials

        if not credentials.is_file():
            fail(f"--credentials: no such file: {credentials}")
        try:
            load_credentials(credentials)
        except CredentialsFileError as exc:
            fail(f"--credentials: {exc}")
    elif not is_loopback(host):
        # Without SigV4 verification anyone who can reach the port could read and write every resource.
        fail(
            f"refusing to bind to non-loopback address {host} without --credentials: "
            "the server would accept any client"
        )
    settings = Settings(
        host=host,
        port=port,
        data_dir=data_dir or default_data_dir(),
        engine=engine,
        spark_master=spark_master,
        s3_endpoint_url=s3_endpoint_url,
        cloudwatch_endpoint_url=cloudwatch_endpoint_url,
        cloudwatch_aws=(env_flag("CLOUDWATCH") or "").lower() == "aws",
        cloudwatch_interval=cloudwatch_interval,
        credentials=credentials,
        strict_aws=strict_aws,
        access_log=access_log,
        workers=workers,
    )

    def ready(url: str) -> None:
        # soft_wrap: one line however long the path; on a pipe Rich would wrap it at 80 columns.
        console.print(
            f"recimpact {_version()} listening on {url} (data in {settings.data_dir})",
            highlight=False,
            soft_wrap=True,
        )
        sys.stdout.flush()

    try:
        if workers > 1:  # a primary and N worker processes on the one port (wire/workers.py)
            supervise(settings, ready)
        else:
            run_server(settings, ready, log_level=log_level)
    except OSError as exc:
        fail(f"cannot bind {host}:{port}: {exc.strerror}")


@app.command()
def demo(
    data_dir: Annotated[
        Path, typer.Option(help="Where the demo keeps its state; emptied at the start of each run.")
    ] = Path("demo-data"),
    live_sessions: Annotated[
        int, typer.Option(min=1, help="Sessions of live traffic (GetRecommendations + PutEvents).")
    ] = 6_000,
    serve: Annotated[
        bool, typer.Option("--serve", help="Keep the server (and its dashboard) running until Ctrl-C.")
    ] = False,
) -> None:
    """The end-to-end story on the embedded server: resources, a bulk import with its report, two trained
    recommenders, a day of live traffic, and the per-source comparison."""
    from recimpact.cli.demo import run_demo

    run_demo(console, data_dir, live_sessions=live_sessions, keep_serving=serve)


@app.command()
def metrics(
    endpoint_url: Annotated[str, typer.Option(envvar="RECIMPACT_ENDPOINT_URL", help="The server's URL.")],
    metric_attribution_arn: Annotated[str, typer.Option(help="The attribution whose live series to show.")],
    start: Annotated[
        str | None, typer.Option(help="First window: epoch seconds, ISO 8601 or relative (-14d).")
    ] = None,
    end: Annotated[
        str | None, typer.Option(help="End of the range (exclusive), same forms as --start.")
    ] = None,
    output_format: Annotated[
        OutputFormat, typer.Option("--format", help="csv, table or json.")
    ] = OutputFormat.table,
) -> None:
    """The live 15-minute series of a metric attribution, in the S3 report's columns, newest window first."""
    from recimpact.cli.client import ApiError, get_series

    try:
        body = get_series(
            endpoint_url, metric_attribution_arn, start, end, "csv" if output_format == "csv" else "json"
        )
    except ApiError as exc:
        fail(str(exc))
    if output_format == "csv":
        sys.stdout.write(str(body))
        return
    assert isinstance(body, dict)
    if output_format == "json":
        console.print_json(data=body["rows"])
        return
    columns = body["columns"]
    print_table(
        f"Live series of {metric_attribution_arn}", columns, [[r[c] for c in columns] for r in body["rows"]]
    )
    console.print(f"{len(body['rows'])} rows", style="dim")


class ImportMode(StrEnum):
    FULL = "FULL"
    INCREMENTAL = "INCREMENTAL"


@app.command("import")
def import_(
    endpoint_url: Annotated[str, typer.Option(envvar="RECIMPACT_ENDPOINT_URL", help="The server's URL.")],
    dataset_arn: Annotated[str, typer.Option(help="The dataset to import into.")],
    data_location: Annotated[
        str,
        typer.Option(help="s3://bucket/key, s3://bucket/prefix/, file:///abs/file.csv or file:///abs/dir/."),
    ],
    job_name: Annotated[str | None, typer.Option(help="Defaults to import-<UTC timestamp>.")] = None,
    import_mode: Annotated[ImportMode, typer.Option(help="FULL replaces bulk data; INCREMENTAL appends.")] = (
        ImportMode.FULL
    ),
    publish_metrics: Annotated[
        bool, typer.Option(help="Publish an attribution report for this job (publishAttributionMetricsToS3).")
    ] = False,
    role_arn: Annotated[str | None, typer.Option(help="Stored with the job, as AWS does.")] = None,
    wait: Annotated[bool, typer.Option(help="Follow the job with a progress bar until it ends.")] = True,
    output_format: Annotated[
        OutputFormat,
        typer.Option(
            "--format",
            help="table; or json/csv: the job's final state on standard output, progress on standard error.",
        ),
    ] = OutputFormat.table,
) -> None:
    """Create a dataset import job and follow it to ACTIVE or CREATE FAILED."""
    import datetime as dt
    import uuid

    from botocore.exceptions import ClientError

    from recimpact.cli.client import aws_client

    # Job names are unique per region: two imports started in the same second must not collide.
    name = job_name or f"import-{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:6]}"
    personalize = aws_client("personalize", endpoint_url, arn=dataset_arn)
    request: dict[str, object] = {
        "jobName": name,
        "datasetArn": dataset_arn,
        "dataSource": {"dataLocation": data_location},
        "importMode": import_mode.value,
        "publishAttributionMetricsToS3": publish_metrics,
    }
    if role_arn:
        request["roleArn"] = role_arn
    try:
        arn = personalize.create_dataset_import_job(**request)["datasetImportJobArn"]
    except ClientError as exc:
        fail(f"{exc.response['Error']['Code']}: {exc.response['Error']['Message']}")
    if output_format == OutputFormat.table:
        console.print(f"created {arn}", highlight=False, soft_wrap=True)
        if wait:
            _follow_import(endpoint_url, arn)
        return
    from recimpact.cli.output import print_job

    print_job(output_format, _follow_import(endpoint_url, arn, errors) if wait else None, arn, endpoint_url)


def _follow_import(endpoint_url: str, arn: str, out: Console = console) -> dict[str, Any]:
    import time

    from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

    from recimpact.cli.client import ApiError, import_progress

    columns = (
        TextColumn("[bold]{task.fields[phase]:<12}"),
        BarColumn(),
        TaskProgressColumn(),
        TextColumn("{task.fields[rows]} rows"),
        TextColumn("{task.fields[rate]} rows/s"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=out, transient=False) as bar:
        task = bar.add_task("import", total=1.0, phase="queued", rows="0", rate="0")
        while True:
            try:
                state = import_progress(endpoint_url, arn)
            except ApiError as exc:
                fail(str(exc))
            progress = state.get("progress") or {}
            rows = progress.get("rowsProcessed") or 0
            elapsed = progress.get("elapsedSeconds") or 0.0
            rate = f"{rows / elapsed:,.0f}" if elapsed > 0 else "0"
            fraction = progress.get("fraction")
            done = state["status"] in ("ACTIVE", "CREATE FAILED")
            bar.update(
                task,
                completed=1.0 if done else (fraction or 0.0),
                phase=state["status"] if done else progress.get("phase", "queued"),
                rows=f"{(state.get('rows') or rows):,}",
                rate=rate,
            )
            if done:
                break
            time.sleep(0.25)
    if state["status"] == "CREATE FAILED":
        fail(f"import failed: {state.get('failureReason')}")
    out.print(f"[green]ACTIVE[/]: {state.get('rows') or 0:,} distinct records imported", highlight=False)
    if state.get("report"):
        out.print(f"report: {state['report']}", highlight=False, soft_wrap=True)
    return state


reports_app = typer.Typer(
    help="List and fetch the attribution reports import jobs published.", no_args_is_help=True
)
app.add_typer(reports_app, name="reports")


@reports_app.command("list")
def reports_list(
    endpoint_url: Annotated[str, typer.Option(envvar="RECIMPACT_ENDPOINT_URL", help="The server's URL.")],
    metric_attribution_arn: Annotated[str, typer.Option(help="The attribution whose reports to list.")],
    output_format: Annotated[
        OutputFormat, typer.Option("--format", help="csv, table or json.")
    ] = OutputFormat.table,
) -> None:
    """Report files at the attribution's destination, newest first."""
    import datetime as dt

    from recimpact.cli.client import ApiError, list_reports

    try:
        files = list_reports(endpoint_url, metric_attribution_arn)
    except ApiError as exc:
        fail(str(exc))
    if output_format == OutputFormat.json:
        console.print_json(data=files)
        return
    if output_format == OutputFormat.csv:
        sys.stdout.write("name,size,lastModified,url\n")
        for f in files:
            sys.stdout.write(f'"{f["name"]}",{f["size"]},{f["lastModified"]},"{f["url"]}"\n')
        return
    print_table(
        "Reports",
        ("name", "size", "last modified (UTC)"),
        [
            (
                f["name"],
                f"{f['size']:,}",
                dt.datetime.fromtimestamp(f["lastModified"], dt.UTC).strftime("%F %T"),
            )
            for f in files
        ],
    )


@reports_app.command("get")
def reports_get(
    endpoint_url: Annotated[str, typer.Option(envvar="RECIMPACT_ENDPOINT_URL", help="The server's URL.")],
    metric_attribution_arn: Annotated[str, typer.Option(help="The attribution whose report to fetch.")],
    name: Annotated[
        str | None, typer.Option(help="The report's file name; the newest one if omitted.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option(help="Write to this file instead of standard output.")
    ] = None,
) -> None:
    """Fetch one report file (CSV)."""
    from recimpact.cli.client import ApiError, get_report, list_reports

    try:
        if name is None:
            files = list_reports(endpoint_url, metric_attribution_arn)
            if not files:
                fail("the attribution has no reports yet")
            name = str(files[0]["name"])
        body = get_report(endpoint_url, metric_attribution_arn, name)
    except ApiError as exc:
        fail(str(exc))
    if output is None:
        sys.stdout.write(body.decode())
    else:
        output.write_bytes(body)
        errors.print(f"wrote {name} to {output}", highlight=False)


def _version() -> str:
    from recimpact import __version__

    return __version__


app.add_typer(attribution_app, name="attribution")
app.command("simulate")(simulate)
app.command("backfill")(backfill)
app.command("compare")(compare)


def main() -> None:
    run(app)
