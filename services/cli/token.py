"""`linli token`: a development token signed with the local key (LINLI_JWT_SECRET), which only
services in dev mode accept."""

from __future__ import annotations

import click

from services.cli.base import Cli, pass_cli
from services.common.auth import Principal, Role, issue_token
from services.common.settings import Settings


@click.command(
    help="Issue a development token signed with the local key (LINLI_JWT_SECRET); "
    "only services in dev mode (LINLI_DEV_MODE) accept it."
)
@click.option(
    "--role",
    type=click.Choice([r.value for r in Role]),
    default=Role.DISTRICT_ADMIN.value,
    show_default=True,
)
@click.option("--subject", default="local-admin", show_default=True)
@click.option("--community", "communities", multiple=True, help="repeatable")
@click.option("--street", "streets", multiple=True, help="repeatable")
@click.option(
    "--hours", default=12.0, show_default=True, type=click.FloatRange(min=0, min_open=True)
)
@pass_cli
def token(
    cli: Cli,
    role: str,
    subject: str,
    communities: tuple[str, ...],
    streets: tuple[str, ...],
    hours: float,
) -> None:
    chosen = Role(role)
    if chosen is Role.COMMUNITY_STAFF and not communities:
        raise click.UsageError("--role community_staff needs --community")
    if chosen is Role.STREET_ADMIN and not streets:
        raise click.UsageError("--role street_admin needs --street")
    signed = issue_token(
        Settings(),
        Principal(subject, chosen, frozenset(communities), frozenset(streets)),
        ttl_s=int(hours * 3600),
    )
    cli.emit({"token": signed}, lambda: click.echo(signed))
