"""Run the console: `python -m services.console` (HTTP on LINLI_CONSOLE_HOST:LINLI_CONSOLE_PORT,
metrics on LINLI_METRICS_PORT), until SIGTERM: uvicorn stops taking requests, finishes
those in flight, and the channels to the services close."""

from __future__ import annotations

import asyncio

import uvicorn

from services.common.logs import setup_logging
from services.common.metrics import MetricsServer
from services.common.settings import ConsoleSettings
from services.console.app import build


async def run(settings: ConsoleSettings) -> None:
    app = build(settings)
    metrics = None
    if settings.metrics_port >= 0:
        metrics = MetricsServer(
            settings.metrics_host or settings.console_host, settings.metrics_port
        )
        metrics.start()
    config = uvicorn.Config(
        app,
        host=settings.console_host,
        port=settings.console_port,
        log_config=None,  # our logging, set up below
        access_log=False,
        proxy_headers=True,
        forwarded_allow_ips="127.0.0.1",
        timeout_graceful_shutdown=10,
        server_header=False,
        # HTTPS with the console's certificate when it has one (a cluster); plain HTTP on a
        # developer's machine, behind a proxy that terminates TLS, or in the tests.
        ssl_certfile=settings.tls_cert_file,
        ssl_keyfile=settings.tls_key_file,
    )
    try:
        await uvicorn.Server(config).serve()
    finally:
        await app.state.console.stubs.close()
        if metrics is not None:
            metrics.stop()


def main() -> None:
    settings = ConsoleSettings()
    fmt = settings.log_format or ("console" if settings.dev_mode else "json")
    setup_logging(settings.log_level, service="console", fmt=fmt)
    asyncio.run(run(settings))


if __name__ == "__main__":
    main()
