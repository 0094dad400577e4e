"""The console's navigation, one row per page in the order staff reach for them. A page that
comes later is a row here and a module under pages/, and nothing else moves."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Entry:
    path: str
    label: str  # an English message id, translated by the catalogue
    section: str  # what a page's `section` names, to mark the current entry


NAV = (
    Entry("/", "Today", "today"),
    Entry("/inbox", "Inbox", "inbox"),
    Entry("/wishes/new", "Post a wish", "post"),
    Entry("/roles/new", "Create a role", "role"),
    Entry("/matching", "Matching", "matching"),
    Entry("/members", "Members", "members"),
    Entry("/ledger", "Ledger", "ledger"),
    Entry("/reports", "Reports", "reports"),
)
