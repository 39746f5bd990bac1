"""Durable state behind small interfaces: the resource catalog (``catalog``) and the event store (``interfaces``)."""
