"""The matching service's store: its read model and the record of its runs, behind one
interface (`port.MatchingStore`) with a PostgreSQL and an in-memory implementation."""

from services.matching.store.port import MatchingStore, Tx

__all__ = ["MatchingStore", "Tx"]
