"""A trained model (a SQLite file written by ``training.py``) answering GetRecommendations with point lookups."""

from __future__ import annotations

import json
import sqlite3
import threading
from collections import defaultdict
from pathlib import Path

from recimpact.domain.recipes import AFFINITY, CO_OCCURRENCE

CATEGORY_WEIGHT = (
    0.5  # how much a favourite category's popular items count beside the recent items' neighbours
)


class TrainedModel:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
        self._lock = threading.Lock()
        meta = dict(self._conn.execute("SELECT key, value FROM meta").fetchall())
        self.algorithm: str = json.loads(meta["algorithm"])

    def recommend(self, user_id: str | None, item_id: str | None, n: int) -> list[tuple[str, float]]:
        """Up to ``n`` (item id, score) pairs, best first; scores are shares of the candidates' total (0–1)."""
        with self._lock:
            if self.algorithm == AFFINITY and user_id is not None:
                scored = self._for_user(user_id)
                exclude = set(self._user_items(user_id))
            elif self.algorithm == CO_OCCURRENCE and item_id is not None:
                scored = dict(
                    self._conn.execute(
                        "SELECT other, score FROM neighbours WHERE item_id = ? ORDER BY score DESC, other",
                        (item_id,),
                    ).fetchall()
                )
                exclude = {item_id}
            else:
                scored, exclude = {}, set()
            if item_id is not None:
                exclude.add(item_id)
            ranked = sorted(
                ((item, score) for item, score in scored.items() if item not in exclude),
                key=lambda pair: (-pair[1], pair[0]),
            )[:n]
            if len(ranked) < n:  # too little signal (a new user or item): fill with popular items
                taken = {item for item, _ in ranked} | exclude
                floor = min((score for _, score in ranked), default=1.0)
                for item, score in self._conn.execute("SELECT item_id, score FROM popular ORDER BY rank"):
                    if len(ranked) >= n:
                        break
                    if item not in taken:
                        ranked.append((item, floor * 0.5 * score if scored else score))
        total = sum(score for _, score in ranked) or 1.0
        return [(item, round(score / total, 7)) for item, score in ranked]

    def _user_items(self, user_id: str) -> list[str]:
        rows = self._conn.execute(
            "SELECT item_id FROM user_items WHERE user_id = ? ORDER BY recency", (user_id,)
        ).fetchall()
        return [item for (item,) in rows]

    def _for_user(self, user_id: str) -> dict[str, float]:
        """Neighbours of the user's recent items (more recent counts more), plus the popular items of the
        user's categories in proportion to the user's share of each."""
        scores: defaultdict[str, float] = defaultdict(float)
        for recency, seed in enumerate(self._user_items(user_id), start=1):
            weight = recency**-0.5
            for other, similarity in self._conn.execute(
                "SELECT other, score FROM neighbours WHERE item_id = ?", (seed,)
            ):
                scores[other] += weight * similarity
        categories = self._conn.execute(
            "SELECT category, weight FROM user_categories WHERE user_id = ?", (user_id,)
        ).fetchall()
        for category, weight in categories:
            top = self._conn.execute(
                "SELECT item_id, score FROM category_top WHERE category = ? ORDER BY score DESC", (category,)
            ).fetchall()
            best = top[0][1] if top else 1.0
            for item, score in top:
                scores[item] += CATEGORY_WEIGHT * weight * score / best
        return scores

    def close(self) -> None:
        with self._lock:
            self._conn.close()
