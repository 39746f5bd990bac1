"""Where ingested data goes: the dataset group behind a tracking id or dataset ARN, with its parsed schemas and
compiled attribution. Built from the catalog once and reused until the catalog changes (its generation moves),
so the hot PutEvents path does no JSON schema parsing and no catalog scan per call."""

from __future__ import annotations

from dataclasses import dataclass

from recimpact.domain.arns import Scope
from recimpact.domain.attribution import CompiledAttribution, compile_attribution
from recimpact.domain.errors import ResourceNotFoundException
from recimpact.domain.resources import Dataset, DatasetGroup, EventTracker, MetricAttribution, Schema
from recimpact.domain.schema import DatasetSchema, parse_schema
from recimpact.services.context import RequestContext
from recimpact.store.catalog import CatalogTx


@dataclass(frozen=True)
class IngestTarget:
    dataset_group_arn: str
    account: str
    region: str
    schemas: dict[str, DatasetSchema]  # by dataset type
    datasets: dict[str, str]  # dataset type → dataset ARN
    attribution: CompiledAttribution | None


def _build(tx: CatalogTx, group: DatasetGroup) -> IngestTarget:
    schemas: dict[str, DatasetSchema] = {}
    datasets: dict[str, str] = {}
    for dataset in tx.list(Dataset, group_scope(group), parent=group.arn):
        schema = tx.get(Schema, dataset.schema_arn)
        if schema is not None:
            schemas[dataset.dataset_type] = parse_schema(schema.schema)
            datasets[dataset.dataset_type] = dataset.arn
    attributions = tx.list(MetricAttribution, group_scope(group), parent=group.arn)
    return IngestTarget(
        dataset_group_arn=group.arn,
        account=group.account,
        region=group.region,
        schemas=schemas,
        datasets=datasets,
        attribution=compile_attribution(attributions[0]) if attributions else None,
    )


def group_scope(group: DatasetGroup) -> Scope:
    return Scope(account=group.account, region=group.region)


def _cache(ctx: RequestContext) -> dict[str, IngestTarget]:
    """The memo, emptied whenever the catalog has changed since it was filled."""
    memo = ctx.shared.setdefault("ingest-targets", {"generation": -1, "targets": {}})
    if memo["generation"] != ctx.catalog.generation:
        memo["generation"] = ctx.catalog.generation
        memo["targets"] = {}
    targets: dict[str, IngestTarget] = memo["targets"]
    return targets


def for_tracking_id(ctx: RequestContext, tracking_id: str) -> IngestTarget:
    cache = _cache(ctx)
    target = cache.get("tracker:" + tracking_id)
    if target is None:
        with ctx.catalog.transaction() as tx:
            tracker = tx.get_by_lookup(EventTracker, tracking_id)
            group = tx.get(DatasetGroup, tracker.dataset_group_arn) if tracker else None
            if group is None:
                raise ResourceNotFoundException(f"Tracking ID {tracking_id} does not exist.")
            target = _build(tx, group)
        cache["tracker:" + tracking_id] = target
    if (target.account, target.region) != (ctx.scope.account, ctx.scope.region):
        raise ResourceNotFoundException(f"Tracking ID {tracking_id} does not exist.")
    return target


def for_dataset(ctx: RequestContext, dataset_arn: str) -> IngestTarget:
    cache = _cache(ctx)
    target = cache.get("dataset:" + dataset_arn)
    if target is None:
        with ctx.catalog.transaction() as tx:
            dataset = tx.get(Dataset, dataset_arn)
            group = tx.get(DatasetGroup, dataset.dataset_group_arn) if dataset else None
            if group is None:
                raise ResourceNotFoundException(f"Resource {dataset_arn} does not exist.")
            target = _build(tx, group)
        cache["dataset:" + dataset_arn] = target
    if (target.account, target.region) != (ctx.scope.account, ctx.scope.region):
        raise ResourceNotFoundException(f"Resource {dataset_arn} does not exist.")
    return target
