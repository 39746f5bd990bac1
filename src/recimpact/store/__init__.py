"""Durable state behind small interfaces: the resource catalog (and, later, the event log and live series)."""
