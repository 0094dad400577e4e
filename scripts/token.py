"""Issue a signed token for local use: `make token ARGS="--role community_staff --community binhu"`.

The key comes from LINLI_JWT_SECRET (the local development key when unset), like the services'.
"""

from __future__ import annotations

import argparse

from services.common.auth import Principal, Role, issue_token
from services.common.settings import Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="linli-token", description=__doc__)
    parser.add_argument(
        "--role", choices=[r.value for r in Role], default=Role.DISTRICT_ADMIN.value
    )
    parser.add_argument(
        "--subject",
        default="local-admin",
        help="who the token names: a member id for --role member",
    )
    parser.add_argument(
        "--community",
        action="append",
        default=[],
        help="a community the staff account acts in (repeatable)",
    )
    parser.add_argument(
        "--street",
        action="append",
        default=[],
        help="a street the street administrator acts in (repeatable)",
    )
    parser.add_argument("--hours", type=float, default=12.0, help="how long it is valid")
    args = parser.parse_args(argv)
    role = Role(args.role)
    if role is Role.COMMUNITY_STAFF and not args.community:
        parser.error("--role community_staff needs at least one --community")
    if role is Role.STREET_ADMIN and not args.street:
        parser.error("--role street_admin needs at least one --street")
    principal = Principal(args.subject, role, frozenset(args.community), frozenset(args.street))
    print(issue_token(Settings(), principal, ttl_s=int(args.hours * 3600)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
