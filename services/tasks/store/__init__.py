"""The task service's store: the interface (port.py), the PostgreSQL store (postgres.py, split
by what it changes) and an in-memory one (memory.py) for use-case tests."""

from services.tasks.store.port import TaskStorePort
from services.tasks.store.postgres import TaskStore
from services.tasks.store.scope import DEADLINE_SQL, Scope

__all__ = ["DEADLINE_SQL", "Scope", "TaskStore", "TaskStorePort"]
