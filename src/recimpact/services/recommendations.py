"""GetRecommendations (personalize-runtime): items from an ACTIVE recommender or campaign, and a
``recommendationId`` that the event store maps back to the issuing ARN, so that events carrying it are attributed
to that recommender or campaign. The id and the items shown (the exposures) are durable before the answer leaves.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from recimpact.domain import resources
from recimpact.domain.errors import InvalidInputException, ResourceNotFoundException
from recimpact.domain.recipes import Recipe, recipe_by_arn
from recimpact.domain.resources import Campaign, Recommender, SolutionVersion
from recimpact.ingest.events import add_exposure_contributions
from recimpact.ingest.targets import IngestTarget, for_group
from recimpact.recommend.model import TrainedModel
from recimpact.services.context import RequestContext
from recimpact.services.registry import RUNTIME, Params, operation
from recimpact.store.interfaces import IngestTx

# personalize-runtime's model documents what its shapes cannot say: numResults "The default is 25. If you are
# including metadata in recommendations, the maximum is 50. Otherwise, the maximum is 500", and metadataColumns
# "The map key is ITEMS ... The maximum number of columns you can provide is 10".
DEFAULT_RESULTS = 25
MAX_RESULTS = 500
MAX_RESULTS_WITH_METADATA = 50
MAX_METADATA_COLUMNS = 10


@dataclass(frozen=True)
class Serving:
    """What answers for one recommender or campaign ARN, until the catalog changes."""

    arn: str
    account: str
    region: str
    dataset_group_arn: str
    recipe: Recipe
    status: str
    model: str | None


def _serving(ctx: RequestContext, arn: str) -> Serving:
    memo = ctx.shared.setdefault("serving", {"generation": -1, "entries": {}})
    if memo["generation"] != ctx.catalog.generation:
        memo["generation"] = ctx.catalog.generation
        memo["entries"] = {}
    entries: dict[str, Serving | None] = memo["entries"]
    if arn not in entries:
        entries[arn] = _lookup(ctx, arn)
    found = entries[arn]
    if found is None or (found.account, found.region) != (ctx.scope.account, ctx.scope.region):
        raise ResourceNotFoundException(f"Resource {arn} does not exist.")
    return found


def _lookup(ctx: RequestContext, arn: str) -> Serving | None:
    with ctx.catalog.transaction() as tx:
        recommender = tx.get(Recommender, arn)
        if recommender is not None:
            return Serving(
                arn,
                recommender.account,
                recommender.region,
                recommender.dataset_group_arn,
                recipe_by_arn(recommender.recipe_arn),
                recommender.status,
                recommender.model,
            )
        # Entries are shared by every caller: whose the campaign is, _serving checks per call.
        campaign = tx.get(Campaign, arn)
        if campaign is None:
            return None
        version = tx.get(SolutionVersion, campaign.solution_version_arn)
        if version is None:
            return None
        return Serving(
            arn,
            campaign.account,
            campaign.region,
            campaign.dataset_group_arn,
            recipe_by_arn(version.recipe_arn),
            campaign.status if version.status == resources.ACTIVE else version.status,
            version.model,
        )


def _model(ctx: RequestContext, serving: Serving) -> TrainedModel:
    """Models stay open once used; a retrained model is a new file, so a stale one is never served."""
    assert serving.model is not None
    models: dict[str, TrainedModel] = ctx.shared.setdefault("models", {})
    model = models.get(serving.model)
    if model is None:
        model = models[serving.model] = TrainedModel(Path(ctx.settings.data_dir) / serving.model)
    return model


@operation(RUNTIME, "GetRecommendations")
async def get_recommendations(ctx: RequestContext, params: Params) -> dict[str, Any]:
    recommender_arn, campaign_arn = params.get("recommenderArn"), params.get("campaignArn")
    if bool(recommender_arn) == bool(campaign_arn):
        raise InvalidInputException("Specify exactly one of recommenderArn and campaignArn")
    _check_counts(params)
    arn = recommender_arn or campaign_arn
    assert arn is not None
    # The lookups may touch the catalog and the model file: on a worker thread, never on the event loop.
    item_list, serving, target = await asyncio.to_thread(_recommend, ctx, params, arn)
    recommendation_id = f"RID-{uuid.uuid4()}"
    issued_at = ctx.clock()
    user_id = params.get("userId")
    shown = [entry["itemId"] for entry in item_list]

    def record(tx: IngestTx) -> None:
        """The id, its issuer and the items shown (an exposure for IMPRESSIONCOUNT()), durable together."""
        group = serving.dataset_group_arn
        tx.record_recommendation(recommendation_id, arn, issued_at, group, user_id, shown)
        if tx.add_exposure(group, recommendation_id.encode(), arn, user_id, issued_at, len(shown)):
            add_exposure_contributions(tx, target.attribution, arn, issued_at, issued_at, len(shown))

    await ctx.events.submit_async(record)
    return {"itemList": item_list, "recommendationId": recommendation_id}


def _check_counts(params: Params) -> None:
    """The limits the model documents in prose, checked with the shapes' before any resource is looked up."""
    metadata = params.get("metadataColumns") or {}
    unknown = sorted(set(metadata) - {"ITEMS"})
    if unknown:
        raise InvalidInputException(f"metadataColumns takes the key ITEMS only, not {unknown[0]!r}")
    columns = metadata.get("ITEMS") or []
    if len(columns) > MAX_METADATA_COLUMNS:
        raise InvalidInputException(
            f"metadataColumns names {len(columns)} columns; at most {MAX_METADATA_COLUMNS} can be returned"
        )
    limit = MAX_RESULTS_WITH_METADATA if columns else MAX_RESULTS
    count = params.get("numResults", DEFAULT_RESULTS)
    if count > limit:
        with_metadata = " with metadataColumns" if columns else ""
        raise InvalidInputException(f"numResults must be at most {limit}{with_metadata}, got {count}")


def _recommend(
    ctx: RequestContext, params: Params, arn: str
) -> tuple[list[dict[str, Any]], Serving, IngestTarget]:
    serving = _serving(ctx, arn)
    if serving.status != resources.ACTIVE or serving.model is None:
        raise ResourceNotFoundException(
            f"{arn} is {serving.status}: it answers GetRecommendations once ACTIVE"
        )
    user_id, item_id = params.get("userId"), params.get("itemId")
    recipe = serving.recipe
    if recipe.needs_user and not user_id:
        raise InvalidInputException(f"userId is required: {recipe.name} recommends items for a user")
    if recipe.needs_item and not item_id:
        raise InvalidInputException(f"itemId is required: {recipe.name} recommends items related to an item")
    if params.get("filterArn"):
        raise ResourceNotFoundException(f"Resource {params['filterArn']} does not exist.")
    if params.get("promotions"):
        raise InvalidInputException("promotions are not supported")
    ranked = _model(ctx, serving).recommend(user_id, item_id, params.get("numResults", DEFAULT_RESULTS))
    item_list: list[dict[str, Any]] = [{"itemId": item, "score": score} for item, score in ranked]
    columns = (params.get("metadataColumns") or {}).get("ITEMS")
    if columns:
        _add_metadata(ctx, serving.dataset_group_arn, item_list, columns)
    return item_list, serving, for_group(ctx, serving.dataset_group_arn)


def _add_metadata(
    ctx: RequestContext, group: str, item_list: list[dict[str, Any]], columns: list[str]
) -> None:
    """``metadataColumns``: the named Items columns of each item, as strings (AWS's metadata map)."""
    found = ctx.events.items_by_id(group, [entry["itemId"] for entry in item_list])
    for entry in item_list:
        props = found.get(entry["itemId"], {})
        entry["metadata"] = {c: str(props[c.upper()]) for c in columns if props.get(c.upper()) is not None}
