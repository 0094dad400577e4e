"""The catalogue of event subjects, `linli.<service>.<entity>.<verb>`: what each service
publishes, named once, so that a publisher and its consumers cannot drift apart."""

from __future__ import annotations

PREFIX = "linli"


def subject(service: str, entity: str, verb: str) -> str:
    return f"{PREFIX}.{service}.{entity}.{verb}"


def everything(service: str, entity: str | None = None) -> str:
    """The wildcard for all of a service's subjects (or all of one entity's)."""
    return f"{PREFIX}.{service}.{entity}.>" if entity else f"{PREFIX}.{service}.>"


REGISTRY = "registry"
TASKS = "tasks"
MATCHING = "matching"
IDENTITY = "identity"
AFFAIRS = "affairs"

# The registry: organisation entries are created ("linli.registry.<kind>.created"), members
# registered, updated, reported in, deactivated, reactivated and erased.
COMMUNITY_CREATED = subject(REGISTRY, "community", "created")
UNIT_CREATED = subject(REGISTRY, "unit", "created")
MEMBER_REGISTERED = subject(REGISTRY, "member", "registered")
MEMBER_UPDATED = subject(REGISTRY, "member", "updated")
MEMBER_REPORTED_IN = subject(REGISTRY, "member", "reported_in")
MEMBER_DEACTIVATED = subject(REGISTRY, "member", "deactivated")
MEMBER_REACTIVATED = subject(REGISTRY, "member", "reactivated")
MEMBER_ERASED = subject(REGISTRY, "member", "erased")
MEMBER_EVENTS = everything(REGISTRY, "member")

# The task service: tasks ("linli.tasks.task.<posted|cancelled|expired|closed|completed>"),
# roles, assignments ("linli.tasks.assignment.<verb>") and refused proposals.
TASK_POSTED = subject(TASKS, "task", "posted")
ROLE_CREATED = subject(TASKS, "role", "created")
ROLE_ENDED = subject(TASKS, "role", "ended")
PROPOSAL_REJECTED = subject(TASKS, "proposal", "rejected")
TASK_EVENTS = everything(TASKS, "task")
ASSIGNMENT_EVENTS = everything(TASKS, "assignment")

# The matching service.
PROPOSAL_MADE = subject(MATCHING, "proposal", "made")

# The identity service: staff and service accounts created, changed (role, scope, password,
# TOTP) and disabled.
ACCOUNT_CREATED = subject(IDENTITY, "account", "created")
ACCOUNT_CHANGED = subject(IDENTITY, "account", "changed")
ACCOUNT_DISABLED = subject(IDENTITY, "account", "disabled")
ACCOUNT_EVENTS = everything(IDENTITY, "account")

# The identity service: sign-ins of one subject ended (disabled, new password, new scope,
# erased or deactivated member); every service refuses their older access tokens.
SIGNINS_REVOKED = subject(IDENTITY, "signins", "revoked")

# The affairs service: items of the ledger raised, moved ("closed" for a close-out) and overdue.
ITEM_RAISED = subject(AFFAIRS, "item", "raised")
ITEM_MOVED = subject(AFFAIRS, "item", "moved")
ITEM_CLOSED = subject(AFFAIRS, "item", "closed")
ITEM_OVERDUE = subject(AFFAIRS, "item", "overdue")
ITEM_EVENTS = everything(AFFAIRS, "item")
TASK_COMPLETED = subject(TASKS, "task", "completed")
