"""Recommenders that learn from a dataset group's interactions: training (``training.py``) and serving (``model.py``)."""
