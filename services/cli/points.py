"""`linli points`: a member's points (积分), their history, and redemptions recorded by staff."""

from __future__ import annotations

import uuid

import click

from linli.v1 import events_pb2
from linli.v1 import points_pb2 as pb
from services.cli.base import Cli, console, local_time, pass_cli
from services.client import Session, pages

KINDS = {
    events_pb2.POINTS_MOVEMENT_KIND_AWARD: "award",
    events_pb2.POINTS_MOVEMENT_KIND_REDEMPTION: "redemption",
    events_pb2.POINTS_MOVEMENT_KIND_REVERSAL: "reversal",
    events_pb2.POINTS_MOVEMENT_KIND_RESET: "reset",
}


def points_text(hundredths: int) -> str:
    return f"{hundredths / 100:.2f}"


def hundredths(value: str) -> int:
    """Points as typed ("12.5") in hundredths; refuses more than two decimals."""
    try:
        whole, _, part = value.strip().partition(".")
        if len(part) > 2 or not whole.isdigit() or (part and not part.isdigit()):
            raise ValueError(value)
        return int(whole) * 100 + int(part.ljust(2, "0") or 0)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an amount of points (e.g. 12.5)") from None


@click.group(help="Points (积分): balances, history, redemptions.")
def points() -> None:
    pass


@points.command(help="A member's balance.")
@click.argument("member_id")
@pass_cli
def balance(cli: Cli, member_id: str) -> None:
    async def go(s: Session) -> pb.GetPointsBalanceResponse:
        return await s.points.GetPointsBalance(  # type: ignore[no-any-return]
            pb.GetPointsBalanceRequest(member_id=member_id), metadata=s.md
        )

    found = cli.call(go)
    cli.emit(
        found,
        lambda: console.print(
            f"{member_id}: {points_text(found.balance)} points "
            f"({points_text(found.earned_this_year)} earned this year)",
            highlight=False,
        ),
    )


@points.command(help="A member's movements, newest first.")
@click.argument("member_id")
@pass_cli
def history(cli: Cli, member_id: str) -> None:
    async def go(s: Session) -> list[pb.PointsMovement]:
        return await pages(
            s.points.ListPointsMovements,
            pb.ListPointsMovementsRequest(member_id=member_id, page_size=500),
            "movements",
            s.md,
        )

    found = cli.call(go)

    def text() -> None:
        for m in found:
            undone = f"  (reversed by {m.reversed_by})" if m.reversed_by else ""
            console.print(
                f"{local_time(m.book_time, '%Y-%m-%d %H:%M')}  {KINDS.get(m.kind, '?'):<10} "
                f"{points_text(m.amount):>9}  {m.community_id:<16} {m.reason}  "
                f"[{m.movement_id}]{undone}",
                highlight=False,
                markup=False,
            )
        click.echo(f"{len(found)} movements")

    cli.emit({"movements": found}, text)


@points.command(help="Record a redemption (staff of the member's community).")
@click.argument("member_id")
@click.option("--points", "amount", required=True, help="points spent, e.g. 20 or 12.5")
@click.option("--item", required=True, help="what the member received, e.g. 理发券")
@click.option("--request-id", default="", help="makes a retry safe (default: a new one)")
@pass_cli
def redeem(cli: Cli, member_id: str, amount: str, item: str, request_id: str) -> None:
    spent = hundredths(amount)

    async def go(s: Session) -> pb.RedeemPointsResponse:
        return await s.points.RedeemPoints(  # type: ignore[no-any-return]
            pb.RedeemPointsRequest(
                request_id=request_id or str(uuid.uuid4()),
                member_id=member_id,
                amount=spent,
                item=item,
            ),
            metadata=s.md,
        )

    done = cli.call(go)
    cli.emit(
        done,
        lambda: console.print(
            f"redeemed {points_text(spent)} points for {item}: balance "
            f"{points_text(done.balance)} [{done.movement.movement_id}]",
            highlight=False,
            markup=False,
        ),
    )
