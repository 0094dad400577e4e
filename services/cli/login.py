"""`linli login` and `linli logout`: staff sign in through the identity service; the tokens are
kept (services/cli/kept.py) and refreshed when they run out."""

from __future__ import annotations

import asyncio
import contextlib

import click
import grpc
from grpc import aio

from linli.v1 import identity_pb2 as pb
from linli.v1.identity_pb2_grpc import IdentityServiceStub
from services.cli.base import Cli, pass_cli
from services.cli.kept import save, saved, tokens_file
from services.client import addresses, client_tls
from services.common.tls import channel


@click.command(help="Sign in as staff; the tokens are kept for the next commands.")
@click.option("--user", prompt=True, help="your user name")
@click.option("--password", prompt=True, hide_input=True, help="asked when not given")
@click.option("--totp", default="", help="the code of your authenticator (administrators)")
@pass_cli
def login(cli: Cli, user: str, password: str, totp: str) -> None:
    async def go() -> pb.Tokens:
        async with channel(addresses(cli.given)["identity"], client_tls()) as ch:
            stub = IdentityServiceStub(ch)
            request = pb.SignInRequest(user_name=user, password=password, totp_code=totp)
            try:
                return (await stub.SignIn(request)).tokens
            except aio.AioRpcError as e:
                if e.code() is not grpc.StatusCode.FAILED_PRECONDITION or totp:
                    raise
                # An administrator: ask for the code and try again.
                request.totp_code = click.prompt("TOTP code")
                return (await stub.SignIn(request)).tokens

    tokens = asyncio.run(go())
    save(tokens)
    cli.emit(
        {"principal": tokens.principal},
        lambda: click.echo(f"signed in; tokens kept in {tokens_file()}"),
    )


@click.command(help="Sign out: revoke the kept sign-in and forget its tokens.")
@pass_cli
def logout(cli: Cli) -> None:
    data = saved()
    if data and data.get("refresh_token"):

        async def go() -> None:
            async with channel(addresses(cli.given)["identity"], client_tls()) as ch:
                await IdentityServiceStub(ch).SignOut(
                    pb.SignOutRequest(refresh_token=data["refresh_token"])
                )

        asyncio.run(go())
    with contextlib.suppress(OSError):
        tokens_file().unlink()
    cli.emit({"signed_out": True}, lambda: click.echo("signed out"))


@click.command(
    name="totp-enrol",
    help="Enrol an authenticator (administrators, once, before their first sign-in).",
)
@click.option("--user", prompt=True, help="your user name")
@click.option("--password", prompt=True, hide_input=True, help="asked when not given")
@pass_cli
def totp_enrol(cli: Cli, user: str, password: str) -> None:
    async def go() -> None:
        async with channel(addresses(cli.given)["identity"], client_tls()) as ch:
            stub = IdentityServiceStub(ch)
            enrol = pb.EnrolTotpRequest(user_name=user, password=password)
            uri = (await stub.EnrolTotp(enrol)).otpauth_uri
            # Shown once: on the operator's terminal (stderr), never in a --output json document.
            click.echo(
                f"add this to your authenticator (a QR code of it, or by hand):\n{uri}", err=True
            )
            code = click.prompt("the first code it shows", err=True)
            confirm = pb.ConfirmTotpRequest(user_name=user, password=password, totp_code=code)
            await stub.ConfirmTotp(confirm)

    asyncio.run(go())
    cli.emit({"enrolled": user}, lambda: click.echo("enrolled: sign in with `linli login`"))
