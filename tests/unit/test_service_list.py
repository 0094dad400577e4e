"""The one list of services: what the stack starts, migrate_all migrates, the settings' ports and
the client's addresses all come from it."""

from __future__ import annotations

from services.client import addresses
from services.common.service_list import SERVICES
from services.common.settings import (
    AffairsSettings,
    ClientSettings,
    IdentitySettings,
    MatchingSettings,
    NotificationsSettings,
    PointsSettings,
    RegistrySettings,
    TasksSettings,
)


def test_every_listed_service_has_its_package_migrations_and_entry_point() -> None:
    assert [s.name for s in SERVICES] == [
        "registry",
        "identity",
        "tasks",
        "matching",
        "points",
        "affairs",
        "notifications",
    ]
    assert len({s.default_port for s in SERVICES}) == len(SERVICES)
    for spec in SERVICES:
        assert spec.migrations.is_dir() and any(spec.migrations.glob("*.sql"))
        assert (spec.migrations.parent / "__main__.py").exists()
        assert spec.module == f"services.{spec.name}"


def test_the_settings_and_the_client_take_their_ports_from_the_list() -> None:
    by_name = {s.name: s for s in SERVICES}
    for cls in (
        RegistrySettings,
        IdentitySettings,
        TasksSettings,
        MatchingSettings,
        NotificationsSettings,
        PointsSettings,
        AffairsSettings,
    ):
        settings = cls()
        assert settings.grpc_port == by_name[settings.service_name].default_port
        moved = cls.model_validate({by_name[settings.service_name].port_setting: 6100})
        assert moved.grpc_port == 6100
    found = addresses(None, ClientSettings(state_dir="/nonexistent"))
    assert found == {s.name: f"127.0.0.1:{s.default_port}" for s in SERVICES}
