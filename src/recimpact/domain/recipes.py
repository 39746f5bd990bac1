"""The recipes recimpact trains: AWS's names and ARNs, each mapped to a simple, real algorithm.

Recommenders (domain dataset groups) use the ECOMMERCE use cases; solutions and campaigns (any dataset group) use
the custom recipes. Which inputs GetRecommendations needs follows the recipe type, as in AWS: USER_PERSONALIZATION
needs ``userId``, RELATED_ITEMS needs ``itemId``, POPULAR_ITEMS needs neither.
"""

from __future__ import annotations

from dataclasses import dataclass

from recimpact.domain.arns import recipe_arn
from recimpact.domain.errors import InvalidInputException

USER_PERSONALIZATION = "USER_PERSONALIZATION"
RELATED_ITEMS = "RELATED_ITEMS"
POPULAR_ITEMS = "POPULAR_ITEMS"

# The algorithms behind the recipes (recommend/training.py).
AFFINITY = (
    "affinity"  # the user's recent items' neighbours, then popular items of the user's favourite categories
)
CO_OCCURRENCE = "co-occurrence"  # items interacted with by the same users (cosine-normalised counts)
POPULARITY = "popularity"  # most interacted-with items, optionally of one event type


@dataclass(frozen=True)
class Recipe:
    name: str
    recipe_type: str
    algorithm: str
    description: str
    domain: str | None = None  # ECOMMERCE for recommender use cases; None for custom recipes
    # Only these event types count in training (case-insensitive); None means every event type.
    event_type: str | None = None

    @property
    def arn(self) -> str:
        return recipe_arn(self.name)

    @property
    def needs_user(self) -> bool:
        return self.recipe_type == USER_PERSONALIZATION

    @property
    def needs_item(self) -> bool:
        return self.recipe_type == RELATED_ITEMS


RECIPES: tuple[Recipe, ...] = (
    Recipe(
        "aws-ecomm-recommended-for-you",
        USER_PERSONALIZATION,
        AFFINITY,
        "Recommendations for a user, from their recent items and favourite categories.",
        domain="ECOMMERCE",
    ),
    Recipe(
        "aws-ecomm-customers-who-viewed-x-also-viewed",
        RELATED_ITEMS,
        CO_OCCURRENCE,
        "Items viewed by the customers who viewed the given item.",
        domain="ECOMMERCE",
        event_type="View",
    ),
    Recipe(
        "aws-ecomm-popular-items-by-views",
        POPULAR_ITEMS,
        POPULARITY,
        "The most viewed items.",
        domain="ECOMMERCE",
        event_type="View",
    ),
    Recipe(
        "aws-ecomm-popular-items-by-purchases",
        POPULAR_ITEMS,
        POPULARITY,
        "The most purchased items.",
        domain="ECOMMERCE",
        event_type="Purchase",
    ),
    Recipe(
        "aws-user-personalization",
        USER_PERSONALIZATION,
        AFFINITY,
        "Personalized recommendations from a user's interactions and the items' categories.",
    ),
    Recipe(
        "aws-similar-items",
        RELATED_ITEMS,
        CO_OCCURRENCE,
        "Items similar to the given item by co-occurrence in users' histories.",
    ),
    Recipe(
        "aws-popularity-count",
        POPULAR_ITEMS,
        POPULARITY,
        "The items with the most interactions (of the solution's eventType, if set).",
    ),
)

_BY_ARN = {recipe.arn: recipe for recipe in RECIPES}


def recipe_by_arn(arn: str) -> Recipe:
    recipe = _BY_ARN.get(arn)
    if recipe is None:
        supported = ", ".join(r.name for r in RECIPES)
        raise InvalidInputException(f"Recipe {arn} is not supported; recimpact trains: {supported}")
    return recipe


def find_recipe(arn: str) -> Recipe | None:
    return _BY_ARN.get(arn)
