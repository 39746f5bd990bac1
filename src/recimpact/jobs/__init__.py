"""Background work, run by the server's primary process (``wire/``) and queued by the operations that create it
(``services/``): the runners (``runner``), import jobs (``imports``, and ``import_rows``: an INCREMENTAL job's rows
into the event log), training (``training``) and import jobs' progress (``progress``)."""
