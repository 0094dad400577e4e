"""Who may see an item, see its resident's contact, and move it: from the caller's role and scope
and the item's community, street and handler."""

from __future__ import annotations

from dataclasses import replace

from services.affairs.domain.errors import NotYours
from services.affairs.domain.items import Contact, Item
from services.common.auth import Principal, Role


def routed_to(p: Principal, item: Item) -> bool:
    """The account the street routed the item to (at a paired unit or a department)."""
    return (
        item.handler is not None
        and bool(item.handler.subject)
        and (item.handler.subject == p.subject)
    )


def sees(p: Principal, item: Item) -> bool:
    return p.holds(item.community_id, item.street_id) or routed_to(p, item)


def sees_contact(p: Principal, item: Item) -> bool:
    """Only those who handle it: the item's community's staff, and the account it is routed to.
    Administrators above see the ledger, not the resident."""
    own_staff = p.role is Role.COMMUNITY_STAFF and item.community_id in p.community_ids
    return own_staff or routed_to(p, item)


def mask_name(name: str) -> str:
    return name[:1] + "*" * max(len(name) - 1, 1) if name else ""


def mask_phone(phone: str) -> str:
    return f"{phone[:3]}****{phone[-4:]}" if len(phone) == 11 else ("*" * len(phone))


def masked(contact: Contact) -> Contact:
    return replace(
        contact,
        name=mask_name(contact.name),
        phone=mask_phone(contact.phone),
        on_behalf_by=mask_name(contact.on_behalf_by),
    )


def for_caller(p: Principal, item: Item) -> tuple[Item, bool]:
    """The item as the caller may see it, and whether its contact is masked."""
    if sees_contact(p, item):
        return item, False
    return replace(item, contact=masked(item.contact)), True


def require_community_level(p: Principal, move: str, item: Item | None = None) -> None:
    """Moves in the community's hands: its staff, or the administrators above; not the account
    an item is routed to, whatever its role elsewhere."""
    staff_roles = (Role.COMMUNITY_STAFF, Role.STREET_ADMIN, Role.DISTRICT_ADMIN, Role.SERVICE)
    if p.role not in staff_roles or (
        item is not None and not p.holds(item.community_id, item.street_id)
    ):
        raise NotYours(move, "the community's staff")


def require_street_level(p: Principal, move: str, item: Item | None = None) -> None:
    """Moves of the street's working committee: its administrators, and the district's."""
    if p.role not in (Role.STREET_ADMIN, Role.DISTRICT_ADMIN, Role.SERVICE) or (
        item is not None and not p.holds(item.community_id, item.street_id)
    ):
        raise NotYours(move, "the street's administrators")


def require_resolver(p: Principal, item: Item) -> None:
    """At the community level its staff resolve an item; at the street, the street's
    administrators or the account it is routed to."""
    if item.stage.value in ("escalated", "routed"):
        if not routed_to(p, item):
            require_street_level(p, "resolve", item)
    else:
        require_community_level(p, "resolve", item)
