"""The audit log of personal data: each service's append-only `audit_entry` table, what a call
changed (written in the change's own transaction) and what personal data its answer showed."""

from __future__ import annotations

import asyncio
import contextvars
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

import asyncpg
from google.protobuf import message as pb_message

from services.common.auth import Principal
from services.common.errors import invalid

# What a reveal may name: the kinds of personal data an answer can show in full.
PHONE, HOME, ADDRESS, DISTANCE = "phone", "home", "address", "distance"
# The number of a member's certificate (a skill that needs proof).
CERTIFICATE = "certificate"

# Erasure writes this prefix before a fresh random id: the trigger of the table lets an id be
# replaced only by such a pseudonym.
ERASED_PREFIX = "erased-"

_SCHEMA = re.compile(r"[a-z_][a-z0-9_]{0,62}")


@dataclass(frozen=True)
class Reveal:
    """Personal data of one member (or of one task's resident) that an answer showed."""

    member_id: str
    task_id: str
    revealed: tuple[str, ...]


@dataclass
class Call:
    """The call being handled: who makes it, which method, its request id, and the reveals its
    answer holds (noted while the answer is built, written once it is)."""

    principal: Principal
    method: str
    request_id: str
    reveals: list[Reveal] = field(default_factory=list)


_call: contextvars.ContextVar[Call | None] = contextvars.ContextVar(
    "linli_audit_call", default=None
)


def begin_call(principal: Principal, method: str, request_id: str) -> Call:
    """Called by the server interceptor once the caller is known."""
    call = Call(principal, method, request_id)
    _call.set(call)
    return call


def current_call() -> Call | None:
    return _call.get()


def note_reveal(*, member_id: str = "", task_id: str = "", revealed: Sequence[str]) -> None:
    """Note that the answer being built shows `revealed` of a member or a task's resident.

    A member shown their own data is not auditing anyone; outside a call (an event handler, a
    test of the domain) nothing is noted."""
    call = _call.get()
    if call is None or not revealed:
        return
    if member_id and call.principal.subject == member_id:
        return
    call.reveals.append(Reveal(member_id, task_id, tuple(revealed)))


async def _insert_reveals(db: asyncpg.Pool | asyncpg.Connection, calls: Sequence[Call]) -> None:
    rows = [(c, r) for c in calls for r in c.reveals]
    await db.execute(
        "INSERT INTO audit_entry"
        " (actor, actor_role, kind, action, member_id, task_id, revealed, method, request_id)"
        " SELECT a, ar, 'reveal', 'read', m, t, string_to_array(r, ','), me, rq"
        " FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[],"
        " $7::text[]) AS x(a, ar, m, t, r, me, rq)",
        [c.principal.subject for c, _ in rows],
        [c.principal.role.value for c, _ in rows],
        [r.member_id for _, r in rows],
        [r.task_id for _, r in rows],
        [",".join(r.revealed) for _, r in rows],
        [c.method for c, _ in rows],
        [c.request_id for c, _ in rows],
    )


class RevealWriter:
    """Writes the reveals of answers, the calls waiting at the same moment in one INSERT (a commit
    is most of a reveal's cost: bench/audit.py). Each call waits until its own rows are committed,
    so no answer leaves before its reveals are kept, and a failed write fails every call in it."""

    def __init__(self, db: asyncpg.Pool | asyncpg.Connection) -> None:
        self._db = db
        self._waiting: list[tuple[Call, asyncio.Future[None]]] = []
        self._turn = asyncio.Lock()
        self._inserts: set[asyncio.Future[None]] = set()  # kept while running, as asyncio asks

    async def write(self, call: Call) -> None:
        if not call.reveals:
            return
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiting.append((replace(call, reveals=call.reveals), done))
        call.reveals = []
        try:
            async with self._turn:
                if not done.done():
                    batch, self._waiting = self._waiting, []
                    rows = [c for c, _ in batch]
                    insert = asyncio.ensure_future(_insert_reveals(self._db, rows))
                    self._inserts.add(insert)
                    insert.add_done_callback(self._inserts.discard)
                    insert.add_done_callback(lambda t: _settle(t, [f for _, f in batch]))
                    # Waited for, not awaited: a caller who goes away mid-write does not cut
                    # off the others' rows.
                    await asyncio.wait([insert])
            await done
        except asyncio.CancelledError:
            done.cancel()  # nobody is left to be told how the write went
            raise


class RevealNotRecorded(ConnectionError):
    """The audit log could not keep an answer's reveals: the answer is withheld, and the caller
    told the service is unavailable (to retry), as for any database fault."""


def _settle(insert: asyncio.Future[None], waiting: list[asyncio.Future[None]]) -> None:
    error = insert.exception() if not insert.cancelled() else RevealNotRecorded("cut off")
    for f in waiting:
        if f.done():
            continue
        if error is None:
            f.set_result(None)
        else:
            # One exception each: a single one raised in many tasks would gather all their
            # tracebacks.
            failed = RevealNotRecorded("the audit log could not record this answer's reveals")
            failed.__cause__ = error
            f.set_exception(failed)


def _text(msg: pb_message.Message, name: str) -> str:
    fields = msg.DESCRIPTOR.fields_by_name
    return str(getattr(msg, name)) if name in fields else ""


def whose(payload: pb_message.Message) -> tuple[str, str]:
    """The member and the task an event payload concerns (either may be empty)."""
    member_id, task_id = _text(payload, "member_id"), _text(payload, "task_id")
    fields = payload.DESCRIPTOR.fields_by_name
    for name in ("member", "task", "assignment"):
        if name in fields and payload.HasField(name):
            inner = getattr(payload, name)
            if name == "member":
                member_id = member_id or inner.id
            elif name == "task":
                task_id = task_id or inner.id
            else:
                member_id = member_id or inner.member_id
                task_id = task_id or inner.task_id
    return member_id, task_id


async def write_changes(
    conn: asyncpg.Connection, items: Sequence[tuple[str, pb_message.Message]]
) -> None:
    """One entry per event a change announces, in the change's transaction: a change made
    through a call is never committed without its entry. Outside a call nothing is written."""
    call = _call.get()
    if call is None or not items:
        return
    targets = [whose(payload) for _, payload in items]
    await conn.execute(
        "INSERT INTO audit_entry"
        " (actor, actor_role, kind, action, member_id, task_id, method, request_id)"
        " SELECT $1, $2, 'write', a, m, t, $3, $4"
        " FROM unnest($5::text[], $6::text[], $7::text[]) AS x(a, m, t)",
        call.principal.subject,
        call.principal.role.value,
        call.method,
        call.request_id,
        [subject for subject, _ in items],
        [m for m, _ in targets],
        [t for _, t in targets],
    )


@dataclass(frozen=True)
class Entry:
    id: int
    at: datetime
    actor: str
    actor_role: str
    kind: str
    action: str
    member_id: str
    task_id: str
    revealed: tuple[str, ...]
    method: str
    request_id: str


@dataclass(frozen=True)
class Filters:
    member_id: str = ""
    actor: str = ""
    since: datetime | None = None
    until: datetime | None = None


def entry_key(after: str) -> int:
    """The page key of the log: an entry's id."""
    if not after.isdigit() or len(after) > 18:
        raise invalid("page_token", "not a token this service issued")
    return int(after)


async def list_entries(
    pool: asyncpg.Pool, filters: Filters, after: int | None, limit: int
) -> list[Entry]:
    """The entries matching every filter, oldest first (by id: the order they were written)."""
    rows = await pool.fetch(
        "SELECT id, at, actor, actor_role, kind, action, member_id, task_id, revealed, method,"
        " request_id FROM audit_entry"
        " WHERE ($1 = '' OR member_id = $1 OR actor = $1)"
        " AND ($2 = '' OR actor = $2)"
        " AND ($3::timestamptz IS NULL OR at >= $3)"
        " AND ($4::timestamptz IS NULL OR at < $4)"
        " AND id > $5 ORDER BY id LIMIT $6",
        filters.member_id,
        filters.actor,
        filters.since,
        filters.until,
        after or 0,
        limit,
    )
    return [Entry(**{**dict(r), "revealed": tuple(r["revealed"])}) for r in rows]


async def anonymise(conn: asyncpg.Connection, schema: str, member_id: str) -> str:
    """Replace an erased member's id, as the member concerned and as the actor, by one fresh
    pseudonym in `schema`'s audit log (the only change its trigger allows). The entries stay, so
    the log still shows that someone's data was read and when; not whose. Returns the pseudonym."""
    if not _SCHEMA.fullmatch(schema):
        raise ValueError(f"not a schema name: {schema!r}")
    if not member_id or member_id.startswith(ERASED_PREFIX):
        raise ValueError("a member id to anonymise is required")
    pseudonym = f"{ERASED_PREFIX}{uuid.uuid4()}"
    table = f'"{schema}".audit_entry'
    await conn.execute(
        f"UPDATE {table} SET member_id = CASE WHEN member_id = $1 THEN $2 ELSE member_id END,"
        " actor = CASE WHEN actor = $1 THEN $2 ELSE actor END"
        " WHERE member_id = $1 OR actor = $1",
        member_id,
        pseudonym,
    )
    return pseudonym
