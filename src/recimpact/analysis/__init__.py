"""recimpact's own read API, beyond AWS's (served by ``wire/read_api.py``): an attribution's live series
(``series``), the report files it published (``reports``), the dashboard's summaries (``summaries``), comparisons of
two sources with intervals (``comparison``) and backfills of what the live series left out (``backfill``). Above the
operations (``services``), whose context and checks it uses; independent of the background jobs (``jobs``)."""
