"""The month's inboxes: at its end, a few members' inboxes as the notifications service kept
them, counted by kind (what the app would have shown each of them)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

from dev.cast import Month, People
from linli.v1 import notifications_pb2 as pb
from services.client import Stubs, gather

# Members whose inboxes are read: those who claimed work themselves, then others by id.
SAMPLE = 60

KINDS = {v: k.removeprefix("INBOX_ITEM_KIND_").lower() for k, v in pb.InboxItemKind.items()}


async def inbox_of(stubs: Stubs, actors: People, member_id: str) -> Counter[str]:
    """A member's whole inbox, read as the member, counted by kind."""
    counts: Counter[str] = Counter()
    token = ""
    while True:
        reply = await stubs.notifications.ListInboxItems(
            pb.ListInboxItemsRequest(page_size=1000, page_token=token),
            metadata=actors.member(member_id),
        )
        counts.update(KINDS.get(i.kind, "?") for i in reply.items)
        token = reply.next_page_token
        if not token:
            return counts


async def show_inboxes(
    stubs: Stubs, actors: People, month: Month, show: Callable[[str], Any] = print, few: int = 3
) -> dict[str, Counter[str]]:
    """Of a sample of members, the `few` inboxes told the most this month, shown with `show`."""
    claimants = sorted({m for _, m, _ in month.claims})
    sample = [*claimants, *(m for m in sorted(month.members) if m not in claimants)][:SAMPLE]
    counted = await gather(sample, lambda m: inbox_of(stubs, actors, m), 8)
    seen = dict(zip(sample, counted, strict=True))
    busiest = sorted(seen, key=lambda m: (-sum(seen[m].values()), m))[:few]
    for m in busiest:
        name = month.members[m].name
        kinds = ", ".join(f"{k} {n}" for k, n in sorted(seen[m].items())) or "empty"
        show(f"inbox of {name} ({sum(seen[m].values())} items): {kinds}")
    return {m: seen[m] for m in busiest}
