"""The task service's PostgreSQL store: the only code that reads or writes its tables.

Every change runs in one transaction with the outbox rows of its events. Changes to a task and its
places take the task's row lock first (then its assignments'), so concurrent claims, answers and
sweeps on one task happen one after another; the database's own constraints (capacity checks and
an exclusion constraint against double-booking) stand behind the code.
"""

from __future__ import annotations

from services.tasks.store.attendance import AttendanceStore
from services.tasks.store.erasure import Erasure
from services.tasks.store.month import Month
from services.tasks.store.places import Places
from services.tasks.store.postings import Postings
from services.tasks.store.queries import Queries
from services.tasks.store.readmodel import ReadModel


class TaskStore(ReadModel, Postings, Places, Month, Queries, Erasure, AttendanceStore):
    """All of the store: the read model, posting, places, the member's month, the reads,
    erasure, and attendance."""
