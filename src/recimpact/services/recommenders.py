"""CreateRecommender, DescribeRecommender, ListRecommenders, DeleteRecommender, and the recipes behind them
(ListRecipes, DescribeRecipe).

A recommender is a domain use case (``aws-ecomm-*``) of an ECOMMERCE dataset group. Creating one records it
``CREATE PENDING`` and hands it to the training worker (``jobs/training.py``); it answers
GetRecommendations once ``ACTIVE``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recimpact.domain import resources
from recimpact.domain.errors import (
    InvalidInputException,
    ResourceAlreadyExistsException,
    ResourceInUseException,
    ResourceNotFoundException,
)
from recimpact.domain.recipes import RECIPES, Recipe, find_recipe, recipe_by_arn
from recimpact.domain.resources import DatasetGroup, Recommender
from recimpact.services.common import describe_one, list_page, paginate, require
from recimpact.services.context import RequestContext
from recimpact.services.registry import CONTROL, Params, operation
from recimpact.services.tags import tags_from_request

# The moment recipes were published (they are AWS's, not the caller's: a fixed date, as AWS shows).
RECIPES_CREATED = 1_546_300_800.0  # 2019-01-01T00:00:00Z


@operation(CONTROL, "CreateRecommender")
def create_recommender(ctx: RequestContext, params: Params) -> dict[str, Any]:
    recipe = recipe_by_arn(params["recipeArn"])
    if recipe.domain is None:
        raise InvalidInputException(
            f"Recipe {recipe.arn} is a custom recipe: train it with CreateSolution, not CreateRecommender"
        )
    tags = tags_from_request(params)
    with ctx.catalog.transaction() as tx:
        group = require(tx, ctx, DatasetGroup, params["datasetGroupArn"], "datasetGroupArn")
        if group.status != resources.ACTIVE:
            raise ResourceInUseException(f"Dataset group {group.arn} is {group.status}, not ACTIVE")
        if group.domain != recipe.domain:
            raise InvalidInputException(
                f"Recipe {recipe.arn} is a {recipe.domain} use case; dataset group {group.arn} has domain "
                f"{group.domain or 'none (a custom dataset group: use CreateSolution)'}"
            )
        arn = ctx.scope.arn("recommender", params["name"])
        if tx.get(Recommender, arn) is not None:
            raise ResourceAlreadyExistsException(f"Recommender {arn} already exists.")
        now = ctx.clock()
        recommender = Recommender(
            arn=arn,
            name=params["name"],
            account=ctx.scope.account,
            region=ctx.scope.region,
            creation_date_time=now,
            last_updated_date_time=now,
            dataset_group_arn=group.arn,
            recipe_arn=recipe.arn,
            recommender_config=params.get("recommenderConfig") or {},
            tags=tags,
        )
        tx.put(recommender)
    if ctx.training is not None:
        ctx.training.submit(arn)
    return {"recommenderArn": arn}


@operation(CONTROL, "DescribeRecommender")
def describe_recommender(ctx: RequestContext, params: Params) -> dict[str, Any]:
    return describe_one(ctx, Recommender, params, "recommender")


@operation(CONTROL, "ListRecommenders")
def list_recommenders(ctx: RequestContext, params: Params) -> dict[str, Any]:
    return list_page(ctx, Recommender, params, "recommenders", "datasetGroupArn")


@operation(CONTROL, "DeleteRecommender")
def delete_recommender(ctx: RequestContext, params: Params) -> dict[str, Any]:
    with ctx.catalog.transaction() as tx:
        recommender = require(tx, ctx, Recommender, params.get("recommenderArn"), "recommenderArn")
        tx.delete(recommender.arn)
    remove_model(ctx, recommender.model)
    return {}


def remove_model(ctx: RequestContext, model: str | None) -> None:
    """A deleted recommender's or solution version's model file goes with it."""
    if model:
        (Path(ctx.settings.data_dir) / model).unlink(missing_ok=True)


def _recipe_view(recipe: Recipe) -> dict[str, Any]:
    return {
        "name": recipe.name,
        "recipeArn": recipe.arn,
        "status": resources.ACTIVE,
        "description": recipe.description,
        "recipeType": recipe.recipe_type,
        "domain": recipe.domain,
        "creationDateTime": RECIPES_CREATED,
        "lastUpdatedDateTime": RECIPES_CREATED,
    }


@operation(CONTROL, "ListRecipes")
def list_recipes(ctx: RequestContext, params: Params) -> dict[str, Any]:
    domain = params.get("domain")
    found = [_recipe_view(r) for r in RECIPES if domain is None or r.domain == domain]
    page, token = paginate(sorted(found, key=lambda r: r["name"]), params, lambda r: (r["name"],))
    return {"recipes": page, "nextToken": token}


@operation(CONTROL, "DescribeRecipe")
def describe_recipe(ctx: RequestContext, params: Params) -> dict[str, Any]:
    recipe = find_recipe(params["recipeArn"])
    if recipe is None:
        raise ResourceNotFoundException(f"Resource {params['recipeArn']} does not exist.")
    return {"recipe": _recipe_view(recipe)}
