"""The events the task service consumes (services/tasks/handlers.py); what each one changes is
shown against real servers in tests/integration/test_tasks.py and test_event_recovery.py."""

from __future__ import annotations

from typing import cast

from services.common.settings import TasksSettings
from services.tasks.handlers import event_table
from services.tasks.store import TaskStore


def test_the_service_consumes_units_communities_proposals_erasures_and_every_member_event() -> None:
    table = event_table(cast(TaskStore, None), TasksSettings())
    assert table.kinds == [
        "linli.v1.CommunityCreated",
        "linli.v1.MemberErased",
        "linli.v1.ProposalMade",
        "linli.v1.UnitCreated",
    ]
