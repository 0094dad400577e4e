"""What every service needs to export a member's data and erase a member: who may ask, the
version that seals an erased read-model row, and the audit trail's hook."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING

from services.common.auth import Principal, Role
from services.common.errors import NotFound, PermissionDenied

if TYPE_CHECKING:  # domains read the rules below, and a domain reaches no database
    import asyncpg

# An erased member's read-model row carries this version: every snapshot of the member still
# travelling (a late delivery, a republish after a stream loss) is older, so none overwrites it.
ERASED_VERSION = datetime(9999, 12, 31, tzinfo=UTC)


def require_export_or_erase(principal: Principal, member_id: str, what: str) -> None:
    """Only the member themself and district administrators may have a member's data exported
    or erased (`what`: "exported", "erased").

    The right to a copy and to deletion is the person's own (PIPL arts. 45 and 47); a district
    administrator acts on a request the member made in person or in writing. Staff of the
    member's community see what their work needs through the ordinary reads, never the whole
    file, and a member's erasure is not theirs to decide. A member asking about another is
    answered as about one who does not exist.
    """
    if principal.role is Role.MEMBER:
        if principal.subject != member_id:
            raise NotFound("member", member_id)
        return
    if principal.role is not Role.DISTRICT_ADMIN:
        raise PermissionDenied(
            f"a member's data is {what} only for the member themself or a district administrator"
        )


async def anonymise_audit_trail(conn: asyncpg.Connection, member_id: str) -> str:
    """Replace the member in the audit log's entries of the service's schema (the one the
    connection works in), inside the erasure's transaction; returns the pseudonym used.

    The audit log is the append-only record of who did what; the erased person's entries stay
    (who acted, on which record, when), naming an id that no longer leads to anyone.
    """
    # Imported here: the domains that read the rules above reach no database module.
    from services.common import audit

    schema = await conn.fetchval("SELECT current_schema()")
    return await audit.anonymise(conn, schema, member_id)
