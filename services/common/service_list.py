"""Linli's services, declared once: name, module, ports (gRPC, metrics) and their settings,
database schema, migrations, gRPC service. The local stack starts these, `migrate_all` migrates
these, the settings take their default ports from here, and the client finds them by these
names."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SERVICES_DIR = Path(__file__).resolve().parent.parent
# Metrics ports follow the gRPC ports: 50051 serves its metrics on 9101, 50052 on 9102, ...
METRICS_PORT_BASE = 9100
GRPC_PORT_BASE = 50050


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    default_port: int
    grpc_service: str

    @property
    def module(self) -> str:
        """What `python -m` runs (and the image's command)."""
        return f"services.{self.name}"

    @property
    def port_setting(self) -> str:
        """The environment variable that moves its port (`make up` and the client read it)."""
        return f"LINLI_{self.name.upper()}_PORT"

    @property
    def default_metrics_port(self) -> int:
        return METRICS_PORT_BASE + self.default_port - GRPC_PORT_BASE

    @property
    def metrics_port_setting(self) -> str:
        """The environment variable that moves its metrics port (HTTP, /metrics)."""
        return f"LINLI_{self.name.upper()}_METRICS_PORT"

    @property
    def schema(self) -> str:
        return self.name

    @property
    def migrations(self) -> Path:
        return SERVICES_DIR / self.name / "migrations"


REGISTRY = ServiceSpec("registry", 50051, "linli.v1.RegistryService")
TASKS = ServiceSpec("tasks", 50052, "linli.v1.TaskService")
MATCHING = ServiceSpec("matching", 50053, "linli.v1.MatchingService")
IDENTITY = ServiceSpec("identity", 50054, "linli.v1.IdentityService")
NOTIFICATIONS = ServiceSpec("notifications", 50055, "linli.v1.NotificationService")
POINTS = ServiceSpec("points", 50056, "linli.v1.PointsService")
AFFAIRS = ServiceSpec("affairs", 50057, "linli.v1.AffairsService")
# In the order they start and migrate: identity keeps members and communities from what the
# registry publishes and signs the tokens the others verify, so it comes right after the
# registry; tasks reads what the registry publishes, matching both; points what both publish;
# affairs reads the registry's communities and the task service's completions; notifications
# reads them all.
SERVICES = (REGISTRY, IDENTITY, TASKS, MATCHING, POINTS, AFFAIRS, NOTIFICATIONS)
BY_NAME = {s.name: s for s in SERVICES}
