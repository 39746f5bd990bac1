"""Live traffic through the real API, as a shop front would send it: each session's carousel comes from a
recommender or campaign (GetRecommendations) or from a third party, and what the user does with it goes to
PutEvents, ten events per call, carrying the ``recommendationId`` (and the items shown as ``impression``) or the
third party's ``eventAttributionSource``.

The simulated users follow ``RetailSite``'s behaviour, with each source's true conversion lift, and the truth (what
was sent, per source) is returned, so a test or the demo can check that the attribution recovers it.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from recimpact.domain.recipes import find_recipe
from recimpact.simulate import Interaction, Item, RetailSite, Source, User

MAX_EVENTS_PER_CALL = 10


@dataclass
class Truth:
    """What the simulation sent, per source as the attribution names it (the ARN for recommenders)."""

    events: dict[str, Counter[str]] = field(default_factory=dict)  # source → event type → count
    recommendation_calls: int = 0

    def add(self, source: str, event_type: str) -> None:
        self.events.setdefault(source, Counter())[event_type] += 1

    def total(self) -> int:
        return sum(sum(c.values()) for c in self.events.values())


@dataclass(frozen=True)
class _Recommender:
    arn: str
    needs_user: bool
    needs_item: bool
    is_campaign: bool


def describe_sources(personalize: Any, sources: Sequence[Source]) -> dict[str, _Recommender]:
    """What input each recommender or campaign needs, from its recipe (as a shop front would know)."""
    found: dict[str, _Recommender] = {}
    for source in sources:
        if source.arn is None:
            continue
        if ":campaign/" in source.arn:
            campaign = personalize.describe_campaign(campaignArn=source.arn)["campaign"]
            version = personalize.describe_solution_version(solutionVersionArn=campaign["solutionVersionArn"])
            recipe_arn = version["solutionVersion"]["recipeArn"]
        else:
            recipe_arn = personalize.describe_recommender(recommenderArn=source.arn)["recommender"][
                "recipeArn"
            ]
        recipe = find_recipe(recipe_arn)
        if recipe is None:
            raise ValueError(f"{source.arn} uses recipe {recipe_arn}, which the simulator does not know")
        found[source.arn] = _Recommender(
            source.arn, recipe.needs_user, recipe.needs_item, ":campaign/" in source.arn
        )
    return found


def run_live(
    site: RetailSite,
    sources: Sequence[Source],
    personalize: Any,
    runtime: Any,
    events: Any,
    tracking_id: str,
    n_sessions: int,
    start: int,
    end: int,
    seed: int = 0,
    on_progress: Callable[[int], None] | None = None,
    by_user: bool = False,
) -> Truth:
    """Simulate ``n_sessions`` sessions with timestamps in [start, end), sending everything through the API.
    Each session draws its source at random; with ``by_user`` each user always gets the same source (an A/B test
    randomized by user, the design under which comparisons between sources are causal)."""
    rng = random.Random(site.seed * 7_919 + seed)
    recommenders = describe_sources(personalize, sources)
    weights = [s.share for s in sources]
    truth = Truth()
    for number in range(n_sessions):
        user = rng.choice(site.users)
        source = rng.choices(list(sources), weights)[0]
        if by_user:
            source = _assigned(user, sources, weights, site.seed)
        moment = rng.randrange(start, max(start + 1, end - 600))
        session_id = f"live-{seed}-{number}"
        recommendation_id: str | None = None
        if source.arn is not None:
            carousel, recommendation_id = _recommended(rng, site, user, recommenders[source.arn], runtime)
            truth.recommendation_calls += 1
        else:
            carousel = site.carousel(rng, user, source)
        interactions = list(site.browse(rng, user, carousel, source, moment, session_id))
        attributed_to = source.arn or source.name
        shown = [item.item_id for item in carousel]
        for i in range(0, len(interactions), MAX_EVENTS_PER_CALL):
            batch = interactions[i : i + MAX_EVENTS_PER_CALL]
            events.put_events(
                trackingId=tracking_id,
                userId=user.user_id,
                sessionId=session_id,
                eventList=[_event(e, recommendation_id, shown, source) for e in batch],
            )
            for e in batch:
                truth.add(attributed_to, e.event_type)
        if on_progress is not None:
            on_progress(len(interactions))
    return truth


def _assigned(user: User, sources: Sequence[Source], weights: list[float], seed: int) -> Source:
    """A user's fixed source: a draw seeded by the user id (stable across runs and processes)."""
    return random.Random(f"{seed}:{user.user_id}").choices(list(sources), weights)[0]


def _recommended(
    rng: random.Random, site: RetailSite, user: User, recommender: _Recommender, runtime: Any
) -> tuple[list[Item], str]:
    """The carousel a recommender fills for this user (or for an item of their persona, on an item page)."""
    request: dict[str, Any] = {"numResults": site.carousel_size}
    request["campaignArn" if recommender.is_campaign else "recommenderArn"] = recommender.arn
    # The shop front knows its user whatever the recipe (AWS takes userId with every recipe): exposures are then
    # per user, the unit source comparisons count.
    request["userId"] = user.user_id
    if recommender.needs_item:
        request["itemId"] = rng.choice(site.items_of(rng.choice(user.personas))).item_id
    answer = runtime.get_recommendations(**request)
    carousel = [item for entry in answer["itemList"] if (item := site.item(entry["itemId"])) is not None]
    return carousel, answer["recommendationId"]


def _event(e: Interaction, recommendation_id: str | None, shown: list[str], source: Source) -> dict[str, Any]:
    event: dict[str, Any] = {"eventType": e.event_type, "itemId": e.item_id, "sentAt": e.timestamp}
    if recommendation_id is not None:
        event["recommendationId"] = recommendation_id
    else:
        event["metricAttribution"] = {"eventAttributionSource": source.name}
    if e.event_type == "View":
        event["impression"] = shown  # the carousel the item was viewed in
    return event
