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
POINTS = "points"
NOTIFICATIONS = "notifications"
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
# A report-in is pending until the community's staff accept or refuse it.
REPORT_IN_ACCEPTED = subject(REGISTRY, "member", "reportin_accepted")
REPORT_IN_REFUSED = subject(REGISTRY, "member", "reportin_refused")
MEMBER_EVENTS = everything(REGISTRY, "member")
# Certificates of skills that need proof: verified, ended (expired, withdrawn), expiring soon.
SKILL_VERIFIED = subject(REGISTRY, "skill", "verified")
SKILL_UNVERIFIED = subject(REGISTRY, "skill", "unverified")
CERTIFICATE_EXPIRING = subject(REGISTRY, "certificate", "expiring")

# The task service: tasks ("linli.tasks.task.<posted|cancelled|expired|closed|completed>"),
# roles, assignments ("linli.tasks.assignment.<verb>") and refused proposals.
TASK_POSTED = subject(TASKS, "task", "posted")
ROLE_CREATED = subject(TASKS, "role", "created")
ROLE_ENDED = subject(TASKS, "role", "ended")
PROPOSAL_REJECTED = subject(TASKS, "proposal", "rejected")
TASK_CHANGED = subject(TASKS, "task", "changed")
TASK_EVENTS = everything(TASKS, "task")
ASSIGNMENT_EVENTS = everything(TASKS, "assignment")
# Hours records: a member asked for hours, staff confirmed (or corrected) them, or refused them.
HOURS_REQUESTED = subject(TASKS, "hours", "requested")
HOURS_CONFIRMED = subject(TASKS, "hours", "confirmed")
HOURS_REFUSED = subject(TASKS, "hours", "refused")
HOURS_EVENTS = everything(TASKS, "hours")

# The member's month in the task service: standby lists, confirm or release, places still empty.
STANDBY_JOINED = subject(TASKS, "standby", "joined")
STANDBY_LEFT = subject(TASKS, "standby", "left")
STANDBY_EVENTS = everything(TASKS, "standby")
CONFIRMATION_REQUESTED = subject(TASKS, "confirmation", "requested")
CONFIRMATION_OVERDUE = subject(TASKS, "confirmation", "overdue")
PLACE_LEFT_EMPTY = subject(TASKS, "place", "empty")

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

# What the notifications service reads, by wildcard: all that the registry, the task service and
# the points service publish, matching's proposals and the identity service's accounts (their
# payload types pick the handler). Its own wake-ups of followers across replicas travel on
# PostgreSQL's LISTEN/NOTIFY, not on the stream.
REGISTRY_EVENTS = everything(REGISTRY)
ALL_TASK_SERVICE_EVENTS = everything(TASKS)
POINTS_EVENTS = everything(POINTS)
PROPOSAL_EVENTS = everything(MATCHING, "proposal")
# The points service: a movement of the ledger ("linli.points.movement.<kind>": award,
# redemption, reversal, reset).
POINTS_MOVEMENT_EVENTS = everything(POINTS, "movement")


def points_moved(kind: str) -> str:
    return subject(POINTS, "movement", kind)


# The affairs service: items of the ledger raised, moved ("closed" for a close-out) and overdue.
ITEM_RAISED = subject(AFFAIRS, "item", "raised")
ITEM_MOVED = subject(AFFAIRS, "item", "moved")
ITEM_CLOSED = subject(AFFAIRS, "item", "closed")
ITEM_OVERDUE = subject(AFFAIRS, "item", "overdue")
ITEM_EVENTS = everything(AFFAIRS, "item")
TASK_COMPLETED = subject(TASKS, "task", "completed")
