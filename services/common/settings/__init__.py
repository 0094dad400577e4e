"""Typed settings from LINLI_* environment variables: the only place that reads the environment.

`base` holds what every service shares, `services` each service's own, `client` a caller's."""

from services.common.settings.base import (
    AFFAIRS_PORT,
    ASYMMETRIC_ALGORITHMS,
    DEV_EVENT_KEY,
    DEV_EVENT_KEYS,
    DEV_IDENTITY_KEY,
    DEV_JWT_SECRET,
    IDENTITY_PORT,
    MATCHING_PORT,
    NOTIFICATIONS_PORT,
    POINTS_PORT,
    REGISTRY_PORT,
    TASKS_PORT,
    Bounds,
    Settings,
)
from services.common.settings.client import ClientSettings
from services.common.settings.points import POINTS_CATEGORIES, PointsRules
from services.common.settings.services import (
    AffairsDeadlines,
    AffairsSettings,
    ConsoleSettings,
    IdentitySettings,
    MatchingSettings,
    NotificationsSettings,
    PointsSettings,
    RegistrySettings,
    TasksSettings,
)

__all__ = [
    "AFFAIRS_PORT",
    "ASYMMETRIC_ALGORITHMS",
    "DEV_EVENT_KEY",
    "DEV_EVENT_KEYS",
    "DEV_IDENTITY_KEY",
    "DEV_JWT_SECRET",
    "IDENTITY_PORT",
    "MATCHING_PORT",
    "NOTIFICATIONS_PORT",
    "POINTS_CATEGORIES",
    "POINTS_PORT",
    "REGISTRY_PORT",
    "TASKS_PORT",
    "AffairsDeadlines",
    "AffairsSettings",
    "Bounds",
    "ClientSettings",
    "ConsoleSettings",
    "IdentitySettings",
    "MatchingSettings",
    "NotificationsSettings",
    "PointsRules",
    "PointsSettings",
    "RegistrySettings",
    "Settings",
    "TasksSettings",
]
