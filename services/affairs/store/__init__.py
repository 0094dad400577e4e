"""The affairs service's store: the interface (port.py), PostgreSQL and in memory."""

from services.affairs.store.port import AffairsStore, Change, MergeChange, Tx

__all__ = ["AffairsStore", "Change", "MergeChange", "Tx"]
