"""Training a recommender or a solution version in the background: ``CREATE PENDING`` → ``CREATE IN_PROGRESS`` →
``ACTIVE`` (with a model file) or ``CREATE FAILED`` (with the reason), as AWS reports training.

The training data is what the dataset group holds when training starts: its Interactions dataset's bulk imports
and every event received through PutEvents; item categories come from its Items (bulk and PutItems alike).
"""

from __future__ import annotations

import logging
import time
import uuid
from pathlib import Path

from recimpact.domain import resources
from recimpact.domain.recipes import recipe_by_arn
from recimpact.domain.resources import Dataset, Recommender, Schema, Solution, SolutionVersion
from recimpact.domain.schema import parse_schema
from recimpact.recommend.training import TrainingData, TrainingError, train
from recimpact.store.catalog import Catalog, CatalogTx
from recimpact.store.interfaces import EventStore

log = logging.getLogger("recimpact.training")

MODELS_DIR = "models"


def run_training(catalog: Catalog, events: EventStore, data_dir: Path, arn: str) -> None:
    """Train the recommender or solution version at ``arn``; never raises (failures become CREATE FAILED)."""
    try:
        _run(catalog, events, data_dir, arn)
    except Exception as exc:
        log.exception("training %s failed", arn)
        _finish(catalog, data_dir, arn, None, f"Training failed: {exc}", {})


def _run(catalog: Catalog, events: EventStore, data_dir: Path, arn: str) -> None:
    with catalog.transaction() as tx:
        record = tx.get(Recommender, arn) or tx.get(SolutionVersion, arn)
        if record is None or record.status not in (resources.CREATE_PENDING, resources.CREATE_IN_PROGRESS):
            return
        record.status = resources.CREATE_IN_PROGRESS
        record.last_updated_date_time = time.time()
        tx.put(record)
        data = _training_data(tx, events, data_dir, record.dataset_group_arn)
    recipe = recipe_by_arn(record.recipe_arn)
    event_type = record.event_type if isinstance(record, SolutionVersion) else None
    model_name = f"{MODELS_DIR}/{uuid.uuid4().hex}.sqlite3"
    (data_dir / MODELS_DIR).mkdir(exist_ok=True)
    try:
        result = train(recipe, event_type, data, data_dir / model_name)
    except TrainingError as exc:
        _finish(catalog, data_dir, arn, None, str(exc), {})
        return
    _finish(catalog, data_dir, arn, model_name, None, result.metrics())


def _training_data(tx: CatalogTx, events: EventStore, data_dir: Path, group: str) -> TrainingData:
    datasets = {d.dataset_type: d for d in tx.children(group) if isinstance(d, Dataset)}
    interactions = datasets.get("INTERACTIONS")
    parts = [data_dir / p for p in interactions.bulk_parts] if interactions else []
    category_column = None
    items = datasets.get("ITEMS")
    if items is not None:
        schema = tx.get(Schema, items.schema_arn)
        if schema is not None:
            columns = parse_schema(schema.schema).columns
            categorical = [c for c in columns if c.categorical]
            category_column = categorical[0].name.upper() if categorical else None
    item_categories = (
        ((item, str(category)) for item, category in events.item_values(group, [category_column]) if category)
        if category_column
        else iter(())
    )
    return TrainingData(bulk_parts=parts, live=events.interactions(group), item_categories=item_categories)


def _finish(
    catalog: Catalog,
    data_dir: Path,
    arn: str,
    model: str | None,
    failure: str | None,
    metrics: dict[str, float],
) -> None:
    with catalog.transaction() as tx:
        record = tx.get(Recommender, arn) or tx.get(SolutionVersion, arn)
        if record is None:  # deleted while training: the model has no owner
            if model:
                (data_dir / model).unlink(missing_ok=True)
            return
        now = time.time()
        record.status = resources.ACTIVE if model else resources.CREATE_FAILED
        record.failure_reason = failure
        record.model = model
        record.last_updated_date_time = now
        if isinstance(record, Recommender):
            record.model_metrics = metrics
        else:
            record.training_hours = round((now - record.creation_date_time) / 3600, 6)
            solution = tx.get(Solution, record.solution_arn)
            if solution is not None:
                solution.latest_solution_version = record.summary()
                tx.put(solution)
        tx.put(record)
