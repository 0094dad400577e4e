"""Run the registry service: `python -m services.registry`."""

from __future__ import annotations

from services.common.clock import clock_for
from services.common.runtime import serve
from services.common.settings import RegistrySettings
from services.registry.app import build


def main() -> None:
    s = RegistrySettings()
    serve(
        s, lambda: build(s, s.database_url or "", s.nats_url or "", clock=clock_for(s.clock_file))
    )


if __name__ == "__main__":
    main()
