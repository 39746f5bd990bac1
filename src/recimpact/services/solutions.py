"""Custom recipes: CreateSolution / Describe / List / Delete, and CreateSolutionVersion / Describe / List.

A solution holds a recipe and its configuration; each solution version is one training run of it (in the
background, through the training worker), and campaigns deploy a version.
"""

from __future__ import annotations

import uuid
from typing import Any

from recimpact.domain import resources
from recimpact.domain.errors import (
    InvalidInputException,
    ResourceAlreadyExistsException,
    ResourceInUseException,
)
from recimpact.domain.recipes import recipe_by_arn
from recimpact.domain.resources import Campaign, DatasetGroup, Solution, SolutionVersion
from recimpact.services.common import describe_one, list_page, paginate, require, resource_order, wire_view
from recimpact.services.context import RequestContext
from recimpact.services.recommenders import remove_model
from recimpact.services.registry import CONTROL, Params, operation
from recimpact.services.tags import tags_from_request


@operation(CONTROL, "CreateSolution")
def create_solution(ctx: RequestContext, params: Params) -> dict[str, Any]:
    if params.get("performAutoML"):
        raise InvalidInputException("performAutoML is not supported: name a recipe with recipeArn")
    if not params.get("recipeArn"):
        raise InvalidInputException("recipeArn is required")
    recipe = recipe_by_arn(params["recipeArn"])
    if recipe.domain is not None:
        raise InvalidInputException(
            f"Recipe {recipe.arn} is a {recipe.domain} use case: create it with CreateRecommender"
        )
    tags = tags_from_request(params)
    with ctx.catalog.transaction() as tx:
        group = require(tx, ctx, DatasetGroup, params["datasetGroupArn"], "datasetGroupArn")
        if group.status != resources.ACTIVE:
            raise ResourceInUseException(f"Dataset group {group.arn} is {group.status}, not ACTIVE")
        arn = ctx.scope.arn("solution", params["name"])
        if tx.get(Solution, arn) is not None:
            raise ResourceAlreadyExistsException(f"Solution {arn} already exists.")
        now = ctx.clock()
        solution = Solution(
            arn=arn,
            name=params["name"],
            account=ctx.scope.account,
            region=ctx.scope.region,
            creation_date_time=now,
            last_updated_date_time=now,
            dataset_group_arn=group.arn,
            recipe_arn=recipe.arn,
            event_type=params.get("eventType"),
            perform_hpo=bool(params.get("performHPO")),
            perform_auto_training=bool(params.get("performAutoTraining")),
            perform_incremental_update=bool(params.get("performIncrementalUpdate")),
            solution_config=params.get("solutionConfig") or {},
            tags=tags,
        )
        tx.put(solution)
    return {"solutionArn": arn}


@operation(CONTROL, "DescribeSolution")
def describe_solution(ctx: RequestContext, params: Params) -> dict[str, Any]:
    return describe_one(ctx, Solution, params, "solution")


@operation(CONTROL, "ListSolutions")
def list_solutions(ctx: RequestContext, params: Params) -> dict[str, Any]:
    return list_page(ctx, Solution, params, "solutions", "datasetGroupArn")


@operation(CONTROL, "DeleteSolution")
def delete_solution(ctx: RequestContext, params: Params) -> dict[str, Any]:
    """The solution and its versions go together; campaigns deploying one of them must be deleted first, and a
    version in training must finish."""
    with ctx.catalog.transaction() as tx:
        solution = require(tx, ctx, Solution, params.get("solutionArn"), "solutionArn")
        children = tx.children(solution.arn)
        campaigns = [c.arn for c in children if isinstance(c, Campaign)]
        if campaigns:
            raise ResourceInUseException(
                f"Solution {solution.arn} is deployed by campaigns {', '.join(campaigns)}; delete them first"
            )
        versions = [v for v in children if isinstance(v, SolutionVersion)]
        training = [v.arn for v in versions if v.status in resources.CREATING]
        if training:  # as AWS answers; the version would otherwise train into a solution that is gone
            raise ResourceInUseException(f"Solution {solution.arn} is training version {training[0]}")
        for version in versions:
            tx.delete(version.arn)
        tx.delete(solution.arn)
    for version in versions:
        remove_model(ctx, version.model)
    return {}


@operation(CONTROL, "CreateSolutionVersion")
def create_solution_version(ctx: RequestContext, params: Params) -> dict[str, Any]:
    mode = params.get("trainingMode") or "FULL"
    tags = tags_from_request(params)
    with ctx.catalog.transaction() as tx:
        solution = require(tx, ctx, Solution, params["solutionArn"], "solutionArn")
        versions = [v for v in tx.children(solution.arn) if isinstance(v, SolutionVersion)]
        training = [v.arn for v in versions if v.status in resources.CREATING]
        if training:
            raise ResourceInUseException(f"Solution {solution.arn} is already training version {training[0]}")
        if mode == "UPDATE" and not any(v.status == resources.ACTIVE for v in versions):
            raise InvalidInputException(
                f"trainingMode UPDATE needs an ACTIVE solution version of {solution.arn}; train one with FULL first"
            )
        version_id = uuid.uuid4().hex[:8]
        arn = ctx.scope.arn("solution", f"{solution.name}/{version_id}")
        name = params.get("name") or version_id
        if any(v.name == name for v in versions):
            raise ResourceAlreadyExistsException(
                f"Solution {solution.arn} already has a version named {name}"
            )
        now = ctx.clock()
        version = SolutionVersion(
            arn=arn,
            name=name,
            account=ctx.scope.account,
            region=ctx.scope.region,
            creation_date_time=now,
            last_updated_date_time=now,
            solution_arn=solution.arn,
            dataset_group_arn=solution.dataset_group_arn,
            recipe_arn=solution.recipe_arn,
            event_type=solution.event_type,
            training_mode=mode,
            tags=tags,
        )
        tx.put(version)
        solution.latest_solution_version = version.summary()
        tx.put(solution)
    if ctx.training is not None:
        ctx.training.submit(arn)
    return {"solutionVersionArn": arn}


@operation(CONTROL, "DescribeSolutionVersion")
def describe_solution_version(ctx: RequestContext, params: Params) -> dict[str, Any]:
    return describe_one(ctx, SolutionVersion, params, "solutionVersion")


@operation(CONTROL, "ListSolutionVersions")
def list_solution_versions(ctx: RequestContext, params: Params) -> dict[str, Any]:
    with ctx.catalog.transaction() as tx:
        parent = params.get("solutionArn")
        if parent:
            require(tx, ctx, Solution, parent, "solutionArn")
        found = tx.list(SolutionVersion, ctx.scope, parent=parent)
    page, token = paginate(found, params, resource_order)
    return {"solutionVersions": wire_view(page), "nextToken": token}
