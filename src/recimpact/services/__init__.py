"""One module per AWS operation family: take parsed input, apply the domain's rules, return plain dicts; and their
plumbing: the table of handlers (``registry``), what each receives (``context``), what they share (``common``).

Importing this package registers every operation handler (see ``registry``).
"""

from recimpact.services import (  # noqa: F401  (imported for their registrations)
    campaigns,
    dataset_groups,
    datasets,
    event_trackers,
    events,
    import_jobs,
    metric_attributions,
    recommendations,
    recommenders,
    schemas,
    solutions,
    tags,
)
