"""Ingest: what PutEvents, GetRecommendations (its exposures) and INCREMENTAL import jobs share, below the
operations that call it (``services``) and the background jobs (``jobs``): where a dataset group's data goes
(``targets``), and how events join the event log and the live series (``events``)."""
