"""Where the registry keeps its state: the interface (port.py), PostgreSQL (postgres.py, split by
aggregate in org.py and members.py, rows in records.py) and memory (memory.py)."""

from services.registry.store.port import (
    MemberUpdate,
    PhoneHistory,
    RaceLost,
    RegisterResult,
    RegisterRow,
    RegistryStore,
)
from services.registry.store.postgres import PostgresRegistryStore

__all__ = [
    "MemberUpdate",
    "PhoneHistory",
    "PostgresRegistryStore",
    "RaceLost",
    "RegisterResult",
    "RegisterRow",
    "RegistryStore",
]
