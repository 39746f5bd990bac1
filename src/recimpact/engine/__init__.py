"""Bulk computation, written once (``plan``) and run by a chosen engine (DuckDB embedded, Spark distributed)."""
