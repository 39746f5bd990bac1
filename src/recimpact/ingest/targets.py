"""Where ingested data goes: the dataset group behind a tracking id or dataset ARN, with its parsed schemas and
compiled attribution. Built from the catalog once and reused until the catalog changes (its generation moves),
so the hot PutEvents path does no JSON schema parsing and no catalog scan per call."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from recimpact.domain.arns import Scope
from recimpact.domain.attribution import CompiledAttribution, compile_attribution
from recimpact.domain.errors import ResourceNotFoundException
from recimpact.domain.resources import Dataset, DatasetGroup, EventTracker, MetricAttribution, Schema
from recimpact.domain.schema import DatasetSchema, parse_schema
from recimpact.store.catalog import Catalog, CatalogTx


@dataclass(frozen=True)
class IngestTarget:
    dataset_group_arn: str
    account: str
    region: str
    schemas: dict[str, DatasetSchema]  # by dataset type
    datasets: dict[str, str]  # dataset type → dataset ARN
    attribution: CompiledAttribution | None


class IngestRequest(Protocol):
    """What a lookup below needs of the request it serves (``services.context.RequestContext`` is one): who is
    calling, the catalog, and the per-server memo the targets are kept in."""

    @property
    def scope(self) -> Scope: ...

    @property
    def catalog(self) -> Catalog: ...

    @property
    def shared(self) -> dict[str, Any]: ...


def build_target(tx: CatalogTx, group: DatasetGroup) -> IngestTarget:
    """Where data for ``group`` goes, from the catalog as ``tx`` sees it."""
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


def _cache(ctx: IngestRequest) -> dict[str, IngestTarget]:
    """The memo, emptied whenever the catalog has changed since it was filled."""
    memo = ctx.shared.setdefault("ingest-targets", {"generation": -1, "targets": {}})
    generation = ctx.catalog.generation  # a query when processes share the catalog: asked once
    if memo["generation"] != generation:
        memo["generation"] = generation
        memo["targets"] = {}
    targets: dict[str, IngestTarget] = memo["targets"]
    return targets


def _target(ctx: IngestRequest, key: str, find_group_arn: Any, missing: str) -> IngestTarget:
    """The cached target for ``key``, built from the catalog on a miss. Another account's or region's target
    does not exist for the caller."""
    cache = _cache(ctx)
    target = cache.get(key)
    if target is None:
        with ctx.catalog.transaction() as tx:
            group_arn = find_group_arn(tx)
            group = tx.get(DatasetGroup, group_arn) if group_arn else None
            if group is None:
                raise ResourceNotFoundException(missing)
            target = cache[key] = build_target(tx, group)
    if (target.account, target.region) != (ctx.scope.account, ctx.scope.region):
        raise ResourceNotFoundException(missing)
    return target


def for_tracking_id(ctx: IngestRequest, tracking_id: str) -> IngestTarget:
    def group_arn(tx: CatalogTx) -> str | None:
        tracker = tx.get_by_lookup(EventTracker, tracking_id)
        return tracker.dataset_group_arn if tracker else None

    return _target(ctx, "tracker:" + tracking_id, group_arn, f"Tracking ID {tracking_id} does not exist.")


def for_dataset(ctx: IngestRequest, dataset_arn: str) -> IngestTarget:
    def group_arn(tx: CatalogTx) -> str | None:
        dataset = tx.get(Dataset, dataset_arn)
        return dataset.dataset_group_arn if dataset else None

    return _target(ctx, "dataset:" + dataset_arn, group_arn, f"Resource {dataset_arn} does not exist.")


def for_group(ctx: IngestRequest, group_arn: str) -> IngestTarget:
    """The target of a dataset group the caller already knows exists (a recommender's, for its exposures)."""

    def arn(tx: CatalogTx) -> str | None:
        return group_arn

    return _target(ctx, "group:" + group_arn, arn, f"Resource {group_arn} does not exist.")
