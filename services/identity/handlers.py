"""The events the identity service consumes, as a table: the registry's communities (the street
of each) and members (who may sign in by phone), kept inside the consumer's transaction."""

from __future__ import annotations

from linli.v1 import events_pb2, registry_pb2
from services.common.clock import Clock, system_clock
from services.common.erasure import ERASED_VERSION
from services.common.handlers import EventTable
from services.common.protoconv import time_from_proto
from services.identity import convert, events
from services.identity.domain.members import MemberRef
from services.identity.domain.tokens import SubjectKind
from services.identity.store import IdentityStore, Tx

Env = events_pb2.EventEnvelope


def table(store: IdentityStore, clock: Clock = system_clock) -> EventTable:
    async def community_created(tx: Tx, e: events_pb2.CommunityCreated, _env: Env) -> None:
        await store.put_community(tx, e.community.id, e.community.street_id)

    async def member_changed(tx: Tx, m: registry_pb2.Member, _env: Env) -> None:
        await store.put_member(tx, *convert.member_ref(m))

    async def member_erased(tx: Tx, e: events_pb2.MemberErased, env: Env) -> None:
        # No phone leads to them any more, no older event brings one back (the final version),
        # and their sign-ins end: an erased member cannot sign in.
        await store.put_member(tx, MemberRef(e.member_id, "", "", False), ERASED_VERSION)
        await store.revoke_subject(SubjectKind.MEMBER, e.member_id, clock())
        # Tokens issued before the erasure itself, wherever this consumer stands.
        at = time_from_proto(env.time)
        await store.announce(tx, [events.signins_revoked(e.member_id, "erased", at=at)])

    async def member_deactivated(tx: Tx, e: events_pb2.MemberDeactivated, env: Env) -> None:
        # A deactivated member signs in no more: their sign-ins end with it, at every service.
        await store.put_member(tx, *convert.member_ref(e.member))
        await store.revoke_subject(SubjectKind.MEMBER, e.member.id, clock())
        at = time_from_proto(env.time)
        await store.announce(tx, [events.signins_revoked(e.member.id, "deactivated", at=at)])

    return (
        EventTable()
        .on(events_pb2.CommunityCreated, apply=community_created)
        .on(events_pb2.MemberErased, apply=member_erased)
        .on(events_pb2.MemberDeactivated, apply=member_deactivated)
        # Every registry event that carries the member whole.
        .carrying(registry_pb2.Member, apply=member_changed)
    )
