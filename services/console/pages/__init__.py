"""The console's pages, one module per page of the navigation (nav.py), each with its routes."""

from __future__ import annotations

from starlette.routing import BaseRoute

from services.console.pages import (
    auth,
    checkin,
    inbox,
    ledger,
    matching,
    members,
    points,
    post,
    reports,
    standing,
    task,
    today,
)

ROUTES: list[BaseRoute] = [
    *auth.ROUTES,
    *today.ROUTES,
    *inbox.ROUTES,
    *post.ROUTES,
    *task.ROUTES,
    *checkin.ROUTES,
    *matching.ROUTES,
    *members.ROUTES,
    *ledger.ROUTES,
    *standing.ROUTES,
    *points.ROUTES,
    *reports.ROUTES,
]
