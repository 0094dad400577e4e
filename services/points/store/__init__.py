"""The points service's store: the interface (port.py), on PostgreSQL and in memory."""

from services.points.store.port import Decide, PointsStore, Tx

__all__ = ["Decide", "PointsStore", "Tx"]
