"""Run the identity service: `python -m services.identity`, or bootstrap the first district
administrator: `python -m services.identity create-admin --user NAME` (password on stdin)."""

from __future__ import annotations

import argparse
import asyncio
import sys

from services.common.auth import Principal, Role
from services.common.clock import system_clock
from services.common.db import create_pool
from services.common.errors import DomainError
from services.common.eventbus import Outbox
from services.common.migrations import apply
from services.common.runtime import serve
from services.common.settings import IdentitySettings
from services.common.sms.dev import LogSms
from services.identity import events
from services.identity.app import MIGRATIONS, SCHEMA, build
from services.identity.service import Identity
from services.identity.store.postgres import PostgresStore

# Who the bootstrap acts as, in the account's event: the operator at the console.
OPERATOR = Principal("operator", Role.DISTRICT_ADMIN)


async def create_admin(settings: IdentitySettings, user: str, password: str) -> str:
    assert settings.database_url
    pool = await create_pool(settings, settings.database_url, SCHEMA)
    try:
        async with pool.acquire() as conn:
            await apply(conn, SCHEMA, MIGRATIONS)
        store = PostgresStore(pool, Outbox(events.SERVICE))
        identity = Identity(store, settings, LogSms(), system_clock)
        account = await identity.accounts.create(
            OPERATOR, user, password, Role.DISTRICT_ADMIN, [], []
        )
        return account.id
    finally:
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m services.identity", description=__doc__)
    sub = parser.add_subparsers(dest="command")
    admin = sub.add_parser("create-admin", help="create a district administrator")
    admin.add_argument("--user", required=True)
    args = parser.parse_args()
    s = IdentitySettings()
    if args.command == "create-admin":
        s.refuse_unsafe()
        if not s.database_url:
            raise SystemExit("set LINLI_DATABASE_URL")
        password = sys.stdin.readline().rstrip("\r\n")
        try:
            account_id = asyncio.run(create_admin(s, args.user, password))
        except DomainError as e:
            raise SystemExit(f"refused: {e.message}") from None
        print(f"created district administrator {args.user} ({account_id}); enrol TOTP next")
        return
    serve(s, lambda: build(s, s.database_url or "", s.nats_url or ""))


if __name__ == "__main__":
    main()
