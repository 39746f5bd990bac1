"""CreateCampaign, DescribeCampaign, ListCampaigns, UpdateCampaign, DeleteCampaign.

A campaign deploys an ACTIVE solution version. Its model is already trained, so deployment is instant (the
campaign is ACTIVE when created), like every other resource recimpact provisions.
"""

from __future__ import annotations

from typing import Any

from recimpact.domain import resources
from recimpact.domain.errors import ResourceAlreadyExistsException, ResourceInUseException
from recimpact.domain.resources import Campaign, SolutionVersion
from recimpact.services.common import describe_one, list_page, require
from recimpact.services.context import RequestContext
from recimpact.services.registry import CONTROL, Params, operation
from recimpact.services.tags import tags_from_request
from recimpact.store.catalog import CatalogTx


def _active_version(tx: CatalogTx, ctx: RequestContext, arn: str) -> SolutionVersion:
    version = require(tx, ctx, SolutionVersion, arn, "solutionVersionArn")
    if version.status != resources.ACTIVE:
        raise ResourceInUseException(
            f"Solution version {version.arn} is {version.status}; a campaign deploys an ACTIVE solution version"
        )
    return version


@operation(CONTROL, "CreateCampaign")
def create_campaign(ctx: RequestContext, params: Params) -> dict[str, Any]:
    tags = tags_from_request(params)
    with ctx.catalog.transaction() as tx:
        version = _active_version(tx, ctx, params["solutionVersionArn"])
        arn = ctx.scope.arn("campaign", params["name"])
        if tx.get(Campaign, arn) is not None:
            raise ResourceAlreadyExistsException(f"Campaign {arn} already exists.")
        now = ctx.clock()
        campaign = Campaign(
            arn=arn,
            name=params["name"],
            account=ctx.scope.account,
            region=ctx.scope.region,
            creation_date_time=now,
            last_updated_date_time=now,
            solution_version_arn=version.arn,
            solution_arn=version.solution_arn,
            dataset_group_arn=version.dataset_group_arn,
            min_provisioned_tps=params.get("minProvisionedTPS") or 1,
            campaign_config=params.get("campaignConfig") or {},
            tags=tags,
        )
        tx.put(campaign)
    return {"campaignArn": arn}


@operation(CONTROL, "DescribeCampaign")
def describe_campaign(ctx: RequestContext, params: Params) -> dict[str, Any]:
    return describe_one(ctx, Campaign, params, "campaign")


@operation(CONTROL, "ListCampaigns")
def list_campaigns(ctx: RequestContext, params: Params) -> dict[str, Any]:
    return list_page(ctx, Campaign, params, "campaigns", "solutionArn")


@operation(CONTROL, "UpdateCampaign")
def update_campaign(ctx: RequestContext, params: Params) -> dict[str, Any]:
    """Deploy another version (a retrained model) or change the configuration; recommendations issued before
    keep their attribution to this campaign."""
    with ctx.catalog.transaction() as tx:
        campaign = require(tx, ctx, Campaign, params["campaignArn"], "campaignArn")
        if params.get("solutionVersionArn"):
            version = _active_version(tx, ctx, params["solutionVersionArn"])
            if version.solution_arn != campaign.solution_arn:
                raise ResourceInUseException(
                    f"Solution version {version.arn} is not a version of {campaign.solution_arn}, which "
                    f"campaign {campaign.arn} deploys"
                )
            campaign.solution_version_arn = version.arn
        if params.get("minProvisionedTPS"):
            campaign.min_provisioned_tps = params["minProvisionedTPS"]
        if params.get("campaignConfig") is not None:
            campaign.campaign_config = params["campaignConfig"]
        campaign.last_updated_date_time = ctx.clock()
        tx.put(campaign)
    return {"campaignArn": campaign.arn}


@operation(CONTROL, "DeleteCampaign")
def delete_campaign(ctx: RequestContext, params: Params) -> dict[str, Any]:
    with ctx.catalog.transaction() as tx:
        campaign = require(tx, ctx, Campaign, params.get("campaignArn"), "campaignArn")
        tx.delete(campaign.arn)
    return {}
