"""Helpers for tests: unique references (tests isolate by unique ids, never by cleaning up),
tokens, and a registry client."""

from __future__ import annotations

import itertools
import os
import uuid

import grpc

from linli.v1 import common_pb2, registry_pb2
from services.common.auth import Principal, Role, issue_token
from services.common.settings import Settings

_phones = itertools.count(int.from_bytes(os.urandom(3), "big") * 100)


def ref(prefix: str = "t") -> str:
    """A unique lower-case id usable as an organisation id."""
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def phone() -> str:
    """A unique, valid mobile number in a range the synthetic district never uses (199)."""
    return f"199{next(_phones) % 10**8:08d}"


def request_id() -> str:
    return f"req-{uuid.uuid4().hex}"


def token(
    settings: Settings,
    role: Role,
    subject: str = "tester",
    *,
    communities: tuple[str, ...] = (),
    streets: tuple[str, ...] = (),
) -> str:
    return issue_token(
        settings, Principal(subject, role, frozenset(communities), frozenset(streets))
    )


def auth(tok: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {tok}"),)


def member_proto(
    community: str = "",
    grid: str = "",
    *,
    lat: float = 36.98,
    lng: float = 117.17,
    skills: tuple[tuple[str, int], ...] = (("tutoring", 2),),
    hours: int = 10,
    name: str = "测试·王芳",
    phone_number: str | None = None,
) -> registry_pb2.Member:
    return registry_pb2.Member(
        name=name,
        phone=phone_number or phone(),
        home=common_pb2.LatLng(latitude=lat, longitude=lng),
        community_id=community,
        grid_id=grid,
        skills=[registry_pb2.MemberSkill(skill=s, level=lv) for s, lv in skills],
        availability=[
            common_pb2.WeeklyWindow(
                day=common_pb2.DAY_OF_WEEK_SATURDAY, start_minute=480, end_minute=720
            )
        ],
        hours_per_month=hours,
    )


def status_of(err: grpc.RpcError) -> grpc.StatusCode:
    return err.code()  # type: ignore[attr-defined, no-any-return]
