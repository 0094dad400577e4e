"""`linli inbox`: the caller's own inbox (a staff account's, or a member's with a member's
token): list it, follow it as items arrive, mark items read."""

from __future__ import annotations

import click

from linli.v1 import notifications_pb2 as pb
from services.cli.base import Cli, local_time, pass_cli
from services.client import Session

KINDS = {v: k.removeprefix("INBOX_ITEM_KIND_").lower() for k, v in pb.InboxItemKind.items()}


def line(item: pb.InboxItem) -> str:
    flags = ("" if item.read else "*") + ("!" if item.urgency == pb.URGENCY_URGENT else "")
    when = local_time(item.create_time, "%m-%d %H:%M")
    kind = KINDS.get(item.kind, "?")
    return f"{item.cursor:>6} {flags:<2} {when}  {kind:<22} {item.title}：{item.body}"


@click.group(help="Your inbox: what Linli told you (* unread, ! urgent).")
def inbox() -> None:
    pass


@inbox.command("list", help="The newest items first.")
@click.option("--unread", is_flag=True, help="only items not read yet")
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@pass_cli
def list_items(cli: Cli, unread: bool, limit: int) -> None:
    async def go(s: Session) -> tuple[list[pb.InboxItem], int]:
        reply = await s.notifications.ListInboxItems(
            pb.ListInboxItemsRequest(unread_only=unread, page_size=limit), metadata=s.md
        )
        count = await s.notifications.GetUnreadCount(pb.GetUnreadCountRequest(), metadata=s.md)
        return list(reply.items), count.unread

    items, unread_count = cli.call(go)

    def text() -> None:
        for item in items:
            click.echo(line(item))
        click.echo(f"{len(items)} shown, {unread_count} unread")

    cli.emit({"items": items, "unread": unread_count}, text)


@inbox.command(help="Print items as they arrive (after --after), until interrupted.")
@click.option("--after", type=click.IntRange(0), default=0, help="the last cursor seen")
@pass_cli
def follow(cli: Cli, after: int) -> None:
    async def go(s: Session) -> None:
        call = s.notifications.FollowInbox(pb.FollowInboxRequest(after_cursor=after), metadata=s.md)
        async for answer in call:
            click.echo(line(answer.item))

    cli.call(go)


@inbox.command(help="Mark items read: the cursors given, or --all.")
@click.argument("cursors", nargs=-1, type=click.IntRange(1))
@click.option("--all", "everything", is_flag=True, help="every item up to the newest")
@pass_cli
def read(cli: Cli, cursors: tuple[int, ...], everything: bool) -> None:
    if not cursors and not everything:
        raise click.UsageError("name the items' cursors, or --all")

    async def go(s: Session) -> int:
        up_to = 0
        if everything:
            newest = await s.notifications.ListInboxItems(
                pb.ListInboxItemsRequest(page_size=1), metadata=s.md
            )
            up_to = newest.items[0].cursor if newest.items else 0
        reply = await s.notifications.MarkItemsRead(
            pb.MarkItemsReadRequest(cursors=list(cursors), up_to_cursor=up_to), metadata=s.md
        )
        return reply.marked

    marked = cli.call(go)
    cli.emit({"marked": marked}, lambda: click.echo(f"{marked} marked read"))
