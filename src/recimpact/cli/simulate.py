"""``recimpact simulate``: a synthetic retail site's traffic, written as CSVs for bulk import (``--out``) or sent
live to a server (``--tracking-id``): carousels from recommenders or campaigns through GetRecommendations, third-party
carousels by ``eventAttributionSource``, each with its true conversion lift. Deterministic under ``--seed``."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from recimpact.cli.output import OutputFormat, aws_errors, console, fail, print_rows
from recimpact.simulate import DEFAULT_SOURCES, RetailSite, Source, write_interactions_csv

EVENT_TYPES = ("View", "AddToCart", "Purchase")


def _lifts(pairs: list[str]) -> dict[str, float]:
    lifts = {}
    for pair in pairs:
        source, sep, factor = pair.rpartition("=")
        try:
            value = float(factor)
        except ValueError:
            value = -1.0
        if not sep or not source or value <= 0:
            fail(
                f"--lift takes SOURCE=FACTOR with a positive factor (1.2 = converts 20% better), not {pair!r}"
            )
        lifts[source] = value
    return lifts


def _sources(
    recommenders: list[str], third_parties: list[str], lifts: dict[str, float]
) -> tuple[Source, ...]:
    """Equal shares of sessions; a source is named by its ARN (recommenders, campaigns) or its name."""
    named = [(arn, arn) for arn in recommenders] + [(name, None) for name in third_parties]
    unknown = set(lifts) - {name for name, _ in named}
    if unknown:
        fail(
            f"--lift names {', '.join(sorted(unknown))}, which is not a --recommender or --third-party source"
        )
    share = 1.0 / len(named)
    return tuple(
        Source(name, share=share, relevance=0.3, conversion_lift=lifts.get(name, 1.0), arn=arn)
        for name, arn in named
    )


def simulate(
    out: Annotated[
        Path | None, typer.Option(help="Write items.csv and interactions.csv here, for bulk import.")
    ] = None,
    endpoint_url: Annotated[
        str | None, typer.Option(envvar="RECIMPACT_ENDPOINT_URL", help="Send live traffic to this server.")
    ] = None,
    tracking_id: Annotated[
        str | None, typer.Option(help="The event tracker's trackingId (live traffic).")
    ] = None,
    recommender: Annotated[
        list[str] | None,
        typer.Option(help="A recommender or campaign ARN that fills carousels (repeatable)."),
    ] = None,
    third_party: Annotated[
        list[str] | None,
        typer.Option(help="A third-party carousel, by eventAttributionSource name (repeatable)."),
    ] = None,
    lift: Annotated[
        list[str] | None, typer.Option(help="SOURCE=FACTOR: the source's true conversion lift (repeatable).")
    ] = None,
    sessions: Annotated[int, typer.Option(min=1, help="Sessions to simulate.")] = 1_000,
    hours: Annotated[
        float, typer.Option(min=0.25, help="The sessions spread over this many hours up to now.")
    ] = 24,
    seed: Annotated[int, typer.Option(help="The same seed gives the same site and traffic.")] = 7,
    users: Annotated[int, typer.Option(min=1, help="Users of the site.")] = 5_000,
    items: Annotated[int, typer.Option(min=1, help="Items of the site.")] = 2_000,
    add_to_cart_rate: Annotated[
        float, typer.Option(help="Chance a viewed item of the user's taste is carted.")
    ] = 0.12,
    purchase_rate: Annotated[float, typer.Option(help="Chance a carted item is bought.")] = 0.45,
    randomize_by_user: Annotated[
        bool,
        typer.Option("--randomize-by-user", help="Each user always sees the same source (an A/B split)."),
    ] = False,
    output_format: Annotated[
        OutputFormat, typer.Option("--format", help="table, json or csv.")
    ] = OutputFormat.table,
) -> None:
    """Simulate a retail site's traffic: CSV files for bulk import, or live GetRecommendations + PutEvents."""
    if (out is None) == (tracking_id is None):
        fail("choose one: --out DIR (CSV files for bulk import) or --tracking-id ID (live traffic)")
    lifts = _lifts(lift or [])
    end = int(time.time())
    start = end - int(hours * 3600)
    if out is not None:
        if recommender:
            fail("--recommender needs live traffic (--tracking-id): recommendations come from the server")
        sources = _sources([], third_party or [], lifts) if third_party else DEFAULT_SOURCES
        site = RetailSite(
            seed=seed,
            n_items=items,
            n_users=users,
            sources=sources,
            add_to_cart_rate=add_to_cart_rate,
            purchase_rate=purchase_rate,
        )
        out.mkdir(parents=True, exist_ok=True)
        site.write_items_csv(out / "items.csv")
        history = list(site.sessions(sessions, start, end, seed=seed))
        write_interactions_csv(iter(history), out / "interactions.csv")
        counts: dict[str, dict[str, int]] = {}
        for event in history:
            per_source = counts.setdefault(event.source, dict.fromkeys(EVENT_TYPES, 0))
            per_source[event.event_type] += 1
        if output_format == OutputFormat.table:
            console.print(
                f"wrote {out / 'items.csv'} ({items:,} items) and {out / 'interactions.csv'}", highlight=False
            )
        _report(counts, output_format)
        return
    if endpoint_url is None:
        fail("live traffic needs --endpoint-url (or RECIMPACT_ENDPOINT_URL)")
    if not recommender and not third_party:
        fail("live traffic needs at least one --recommender ARN or --third-party NAME")
    live_sources = _sources(recommender or [], third_party or [], lifts)
    site = RetailSite(
        seed=seed,
        n_items=items,
        n_users=users,
        sources=live_sources,
        add_to_cart_rate=add_to_cart_rate,
        purchase_rate=purchase_rate,
    )
    _live(site, endpoint_url, tracking_id or "", sessions, start, end, output_format, randomize_by_user)


def _live(
    site: RetailSite,
    endpoint_url: str,
    tracking_id: str,
    sessions: int,
    start: int,
    end: int,
    output_format: OutputFormat,
    by_user: bool,
) -> None:
    from recimpact.cli.client import aws_client
    from recimpact.traffic import run_live

    arn = next((s.arn for s in site.sources if s.arn), None)
    with aws_errors():
        personalize = aws_client("personalize", endpoint_url, arn=arn)
        runtime = aws_client("personalize-runtime", endpoint_url, arn=arn)
        events = aws_client("personalize-events", endpoint_url, arn=arn)
        progress = Progress(
            TextColumn("live traffic"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("sessions · {task.fields[events]:,} events"),
            TimeRemainingColumn(),
            console=console,
            disable=output_format != OutputFormat.table,
        )
        with progress:
            task = progress.add_task("sessions", total=sessions, events=0)

            def advance(sent: int) -> None:
                progress.update(task, advance=1, events=progress.tasks[0].fields["events"] + sent)

            truth = run_live(
                site,
                site.sources,
                personalize,
                runtime,
                events,
                tracking_id,
                sessions,
                start,
                end,
                seed=site.seed,
                on_progress=advance,
                by_user=by_user,
            )
    counts = {source: {t: c[t] for t in EVENT_TYPES} for source, c in truth.events.items()}
    _report(counts, output_format)


def _report(counts: dict[str, dict[str, int]], output_format: OutputFormat) -> None:
    """What was sent per source: the truth the attribution should show."""
    rows = [
        [source, *(c[t] for t in EVENT_TYPES), round(c["Purchase"] / c["View"], 4) if c["View"] else None]
        for source, c in sorted(counts.items())
    ]
    columns = ["source", *EVENT_TYPES, "purchases_per_view"]
    print_rows(output_format, columns, rows, title="Sent, per source")
