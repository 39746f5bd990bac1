"""A synthetic retail site, in the spirit of AWS's Retail Demo Store: items with PRICE, CATEGORY_L1, CATEGORY_L2 and
MARGIN; users with category personas; sessions that go View → AddToCart → Purchase through carousels served by
different sources, each with its own true effect on conversion. Deterministic under a seed, so a demo or a test can
check that attribution recovers the effect it injected.
"""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

CATEGORIES: dict[str, tuple[str, ...]] = {
    "apparel": ("shirts", "jackets", "trousers", "dresses"),
    "footwear": ("sneakers", "boots", "sandals"),
    "electronics": ("headphones", "cameras", "speakers", "phones"),
    "home": ("kitchen", "lighting", "decor"),
    "beauty": ("skincare", "fragrance"),
    "outdoors": ("camping", "cycling", "fishing"),
}


# The datasets of the retail site, as AWS's launch post defines them (Avro, as CreateSchema takes them).
EVENT_VALUE_FIELD: dict[str, object] = {"name": "EVENT_VALUE", "type": ["null", "float"]}
EVENT_ATTRIBUTION_SOURCE_FIELD: dict[str, object] = {
    "name": "EVENT_ATTRIBUTION_SOURCE",
    "type": ["null", "string"],
}
ITEMS_SCHEMA = {
    "type": "record",
    "name": "Items",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [
        {"name": "ITEM_ID", "type": "string"},
        {"name": "PRICE", "type": "float"},
        {"name": "CATEGORY_L1", "type": ["string"], "categorical": True},
        {"name": "CATEGORY_L2", "type": ["string"], "categorical": True},
        {"name": "MARGIN", "type": "double"},
    ],
    "version": "1.0",
}
# The launch post's metrics: views counted, margin of purchases summed.
SEED_METRICS = [
    {"eventType": "View", "expression": "SAMPLECOUNT()", "metricName": "countViews"},
    {"eventType": "Purchase", "expression": "SUM(ITEMS.MARGIN)", "metricName": "sumMargin"},
]


def interactions_schema(*extra_fields: dict[str, object]) -> dict[str, object]:
    """The launch post's Interactions schema (USER_ID, ITEM_ID, TIMESTAMP, EVENT_TYPE) plus optional fields."""
    return {
        "type": "record",
        "name": "Interactions",
        "namespace": "com.amazonaws.personalize.schema",
        "fields": [
            {"name": "USER_ID", "type": "string"},
            {"name": "ITEM_ID", "type": "string"},
            {"name": "TIMESTAMP", "type": "long"},
            {"name": "EVENT_TYPE", "type": "string"},
            *extra_fields,
        ],
        "version": "1.0",
    }


@dataclass(frozen=True)
class Item:
    item_id: str
    price: float
    category_l1: str
    category_l2: str
    margin: float


@dataclass(frozen=True)
class User:
    user_id: str
    personas: tuple[str, ...]  # preferred CATEGORY_L1 values


@dataclass(frozen=True)
class Source:
    """A carousel and who fills it. ``relevance`` is the chance each slot holds an item of the user's persona (for
    carousels the site fills itself); ``conversion_lift`` multiplies the chance that a viewed item is added to the
    cart (1.2 = converts 20% better). With ``arn`` (a recommender or campaign), live traffic fills the carousel
    through GetRecommendations instead, and its events carry the ``recommendationId``."""

    name: str
    share: float  # of sessions
    relevance: float = 0.3
    conversion_lift: float = 1.0
    arn: str | None = None


DEFAULT_SOURCES = (
    Source("recommended_for_you", share=0.4, relevance=0.7, conversion_lift=1.2),
    Source("viewed_x_also_viewed", share=0.35, relevance=0.55, conversion_lift=1.0),
    Source("third_party_carousel", share=0.25, relevance=0.3, conversion_lift=0.9),
)


@dataclass(frozen=True)
class Interaction:
    user_id: str
    item_id: str
    timestamp: int
    event_type: str  # View, AddToCart, Purchase
    source: str
    session_id: str


@dataclass
class RetailSite:
    seed: int = 7
    n_items: int = 2_000
    n_users: int = 5_000
    sources: tuple[Source, ...] = DEFAULT_SOURCES
    carousel_size: int = 8
    add_to_cart_rate: float = 0.12  # of views of a relevant item
    purchase_rate: float = 0.45  # of carts
    items: list[Item] = field(init=False)
    users: list[User] = field(init=False)

    def __post_init__(self) -> None:
        rng = random.Random(self.seed)
        self.items = [self._item(rng, i) for i in range(self.n_items)]
        self.users = [
            User(f"user-{u:06d}", tuple(rng.sample(sorted(CATEGORIES), k=rng.choice((1, 1, 2)))))
            for u in range(self.n_users)
        ]
        self._by_id = {item.item_id: item for item in self.items}
        self._by_category: dict[str, list[Item]] = {}
        for item in self.items:
            self._by_category.setdefault(item.category_l1, []).append(item)

    @staticmethod
    def _item(rng: random.Random, index: int) -> Item:
        l1 = rng.choice(sorted(CATEGORIES))
        price = round(math.exp(rng.gauss(3.6, 0.7)), 2)
        return Item(
            item_id=f"item-{index:05d}",
            price=price,
            category_l1=l1,
            category_l2=rng.choice(CATEGORIES[l1]),
            margin=round(price * rng.uniform(0.1, 0.45), 2),
        )

    def sessions(
        self, n_sessions: int, start: int, end: int, seed: int | None = None
    ) -> Iterator[Interaction]:
        """Interactions of ``n_sessions`` sessions spread over [start, end) epoch seconds, in time order per
        session (sessions themselves are not sorted)."""
        rng = random.Random(self.seed * 1_000_003 + (seed if seed is not None else start))
        weights = [s.share for s in self.sources]
        for number in range(n_sessions):
            user = rng.choice(self.users)
            source = rng.choices(self.sources, weights)[0]
            moment = rng.randrange(start, max(start + 1, end - 600))
            carousel = self.carousel(rng, user, source)
            yield from self.browse(rng, user, carousel, source, moment, f"s-{start}-{number}")

    def browse(
        self,
        rng: random.Random,
        user: User,
        carousel: list[Item],
        source: Source,
        moment: int,
        session_id: str,
    ) -> Iterator[Interaction]:
        """What a user does with a carousel: looks at some slots (View); an item of their persona is added to the
        cart more often, and the source's lift multiplies that chance; some carts are bought (Purchase)."""
        for item in carousel:
            if rng.random() > 0.55:  # not every slot is looked at
                continue
            moment += rng.randrange(5, 40)
            yield Interaction(user.user_id, item.item_id, moment, "View", source.name, session_id)
            relevant = item.category_l1 in user.personas
            p_cart = self.add_to_cart_rate * (1.0 if relevant else 0.35) * source.conversion_lift
            if rng.random() < p_cart:
                moment += rng.randrange(10, 60)
                yield Interaction(user.user_id, item.item_id, moment, "AddToCart", source.name, session_id)
                if rng.random() < self.purchase_rate:
                    moment += rng.randrange(30, 180)
                    yield Interaction(user.user_id, item.item_id, moment, "Purchase", source.name, session_id)

    def item(self, item_id: str) -> Item | None:
        return self._by_id.get(item_id)

    def items_of(self, category_l1: str) -> list[Item]:
        return self._by_category[category_l1]

    def carousel(self, rng: random.Random, user: User, source: Source) -> list[Item]:
        """A carousel the site fills itself: each slot of the user's persona with the source's relevance."""
        shown = []
        for _ in range(self.carousel_size):
            if rng.random() < source.relevance:
                shown.append(rng.choice(self.items_of(rng.choice(user.personas))))
            else:
                shown.append(rng.choice(self.items))
        return shown

    def write_items_csv(self, path: Path) -> Path:
        with open(path, "w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["ITEM_ID", "PRICE", "CATEGORY_L1", "CATEGORY_L2", "MARGIN"])
            for item in self.items:
                writer.writerow([item.item_id, item.price, item.category_l1, item.category_l2, item.margin])
        return path


def write_interactions_csv(interactions: Iterator[Interaction], path: Path) -> int:
    """Interactions in the Interactions schema's columns (EVENT_ATTRIBUTION_SOURCE carries the source)."""
    count = 0
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "EVENT_ATTRIBUTION_SOURCE"])
        for event in interactions:
            writer.writerow([event.user_id, event.item_id, event.timestamp, event.event_type, event.source])
            count += 1
    return count
