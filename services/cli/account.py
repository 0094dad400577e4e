"""`linli account`: staff and service accounts, managed by administrators."""

from __future__ import annotations

import click

from linli.v1 import common_pb2
from linli.v1 import identity_pb2 as pb
from services.cli.base import Cli, console, pass_cli
from services.client import Session, pages

ROLES = {
    "community_staff": common_pb2.ROLE_COMMUNITY_STAFF,
    "street_admin": common_pb2.ROLE_STREET_ADMIN,
    "district_admin": common_pb2.ROLE_DISTRICT_ADMIN,
}
ROLE_NAMES = {v: k for k, v in ROLES.items()} | {common_pb2.ROLE_SERVICE: "service"}


@click.group(help="Staff and service accounts.")
def account() -> None:
    pass


def _line(a: pb.Account) -> str:
    scope = ",".join([*a.community_ids, *a.street_ids]) or "-"
    state = "disabled" if a.disabled else ("totp" if a.totp_enrolled else "")
    return f"{a.id}  {a.user_name:<24} {ROLE_NAMES.get(a.role, '?'):<16} {scope}  {state}"


@account.command(help="Create a staff account (the password is asked for).")
@click.option("--user", required=True)
@click.option("--role", type=click.Choice(sorted(ROLES)), required=True)
@click.option("--community", "communities", multiple=True, help="repeatable")
@click.option("--street", "streets", multiple=True, help="repeatable")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@pass_cli
def create(
    cli: Cli,
    user: str,
    role: str,
    communities: tuple[str, ...],
    streets: tuple[str, ...],
    password: str,
) -> None:
    async def go(s: Session) -> pb.Account:
        request = pb.CreateAccountRequest(
            user_name=user,
            password=password,
            role=ROLES[role],
            community_ids=communities,
            street_ids=streets,
        )
        return (await s.identity.CreateAccount(request, metadata=s.md)).account

    made = cli.call(go)
    cli.emit({"account": made}, lambda: console.print(_line(made), highlight=False))


@account.command(name="create-service", help="Create a service account; prints its secret once.")
@click.option("--client-id", required=True)
@pass_cli
def create_service(cli: Cli, client_id: str) -> None:
    async def go(s: Session) -> pb.CreateServiceAccountResponse:
        request = pb.CreateServiceAccountRequest(client_id=client_id)
        return await s.identity.CreateServiceAccount(request, metadata=s.md)

    made = cli.call(go)
    cli.emit(
        {"account": made.account, "client_secret": made.client_secret},
        lambda: click.echo(
            f"{_line(made.account)}\nclient secret (shown once): {made.client_secret}"
        ),
    )


@account.command(name="list", help="The accounts you manage.")
@pass_cli
def list_accounts(cli: Cli) -> None:
    async def go(s: Session) -> list[pb.Account]:
        return await pages(
            s.identity.ListAccounts, pb.ListAccountsRequest(page_size=500), "accounts", s.md
        )

    found = cli.call(go)

    def text() -> None:
        for a in found:
            console.print(_line(a), highlight=False)

    cli.emit({"accounts": found}, text)


@account.command(help="Disable an account: it signs in no more.")
@click.argument("account_id")
@pass_cli
def disable(cli: Cli, account_id: str) -> None:
    async def go(s: Session) -> pb.Account:
        request = pb.DisableAccountRequest(id=account_id)
        return (await s.identity.DisableAccount(request, metadata=s.md)).account

    done = cli.call(go)
    cli.emit({"account": done}, lambda: console.print(_line(done), highlight=False))
