"""The ``recimpact`` command line (Typer + Rich)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from recimpact.settings import ENGINES, Settings, default_data_dir

app = typer.Typer(
    name="recimpact",
    help="Measure the business impact of recommendations: an AWS-compatible metric attribution service.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
errors = Console(stderr=True)


@app.command()
def serve(
    host: Annotated[str, typer.Option(envvar="RECIMPACT_HOST", help="Address to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(envvar="RECIMPACT_PORT", help="Port to bind; 0 picks a free one.")] = 8787,
    data_dir: Annotated[
        Path | None, typer.Option(envvar="RECIMPACT_DATA_DIR", help="Where state lives.", show_default=False)
    ] = None,
    engine: Annotated[str, typer.Option(envvar="RECIMPACT_ENGINE", help="Bulk engine: duckdb or spark.")] = "duckdb",
    spark_master: Annotated[str, typer.Option(envvar="RECIMPACT_SPARK_MASTER", help="Spark master URL.")] = "local[*]",
    s3_endpoint_url: Annotated[
        str | None, typer.Option(envvar="RECIMPACT_S3_ENDPOINT_URL", help="S3-compatible endpoint for s3:// paths.")
    ] = None,
    cloudwatch_endpoint_url: Annotated[
        str | None, typer.Option(envvar="RECIMPACT_CLOUDWATCH_ENDPOINT_URL", help="CloudWatch endpoint to publish to.")
    ] = None,
    credentials: Annotated[
        Path | None,
        typer.Option(envvar="RECIMPACT_CREDENTIALS", help="CSV: access_key_id,secret_access_key,account_id."),
    ] = None,
    log_level: Annotated[str, typer.Option(envvar="RECIMPACT_LOG_LEVEL", help="uvicorn log level.")] = "warning",
) -> None:
    """Run the server: boto3's personalize, personalize-events and personalize-runtime clients talk to it."""
    from recimpact.wire.server import is_loopback
    from recimpact.wire.server import serve as run_server

    if engine not in ENGINES:
        _fail(f"--engine must be one of {', '.join(ENGINES)}, not {engine!r}")
    if credentials is not None and not credentials.is_file():
        _fail(f"--credentials: no such file: {credentials}")
    if not is_loopback(host):
        # Without SigV4 verification anyone who can reach the port could read and write every resource.
        _fail(f"refusing to bind to non-loopback address {host}: this version accepts unauthenticated clients only")
    settings = Settings(
        host=host,
        port=port,
        data_dir=data_dir or default_data_dir(),
        engine=engine,
        spark_master=spark_master,
        s3_endpoint_url=s3_endpoint_url,
        cloudwatch_endpoint_url=cloudwatch_endpoint_url,
        credentials=credentials,
    )

    def ready(url: str) -> None:
        console.print(f"recimpact {_version()} listening on {url} (data in {settings.data_dir})", highlight=False)
        sys.stdout.flush()

    try:
        run_server(settings, ready, log_level=log_level)
    except OSError as exc:
        _fail(f"cannot bind {host}:{port}: {exc.strerror}")


@app.command()
def demo(
    data_dir: Annotated[
        Path, typer.Option(help="Where the demo keeps its state; emptied at the start of each run.")
    ] = Path("demo-data"),
) -> None:
    """The end-to-end story on the embedded server: dataset group, schemas, datasets, tracker, attribution."""
    from recimpact.demo import run_demo

    run_demo(console, data_dir)


def _version() -> str:
    from recimpact import __version__

    return __version__


def _fail(message: str) -> None:
    errors.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(2)


def main() -> None:
    app()
