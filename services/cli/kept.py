"""The tokens of `linli login`, kept in the user's config directory (readable by them only), and
the access token the next commands send, refreshed through the identity service when it runs
out."""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
import grpc
from grpc import aio

from linli.v1 import identity_pb2 as pb
from linli.v1.identity_pb2_grpc import IdentityServiceStub
from services.client import client_tls
from services.common.protoconv import time_from_proto
from services.common.settings import ClientSettings
from services.common.tls import channel

# Refreshed when it has less than this left: a command started just before expiry still works.
REFRESH_MARGIN_S = 60


def tokens_file() -> Path:
    return Path(click.get_app_dir("linli")) / "tokens.json"


def save(tokens: pb.Tokens, path: Path | None = None) -> None:
    path = path or tokens_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    data = {
        "access_token": tokens.access_token,
        "access_expires_at": time_from_proto(tokens.access_expires_at).timestamp(),
        "refresh_token": tokens.refresh_token,
    }
    # Created 0600 before anything is written: the tokens are never readable by others.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
    os.chmod(path, 0o600)


def saved(path: Path | None = None) -> dict[str, Any] | None:
    path = path or tokens_file()
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("access_token") else None


async def current_token(where: Mapping[str, str], path: Path | None = None) -> str | None:
    """The saved access token, refreshed first when it is (nearly) expired; None when there is
    no saved sign-in or it can no longer be refreshed."""
    data = saved(path)
    if data is None:
        return None
    if float(data.get("access_expires_at", 0)) - time.time() > REFRESH_MARGIN_S:
        return str(data["access_token"])
    if not data.get("refresh_token"):
        return None
    async with channel(where["identity"], client_tls()) as ch:
        try:
            r = await IdentityServiceStub(ch).Refresh(
                pb.RefreshRequest(refresh_token=data["refresh_token"])
            )
        except aio.AioRpcError as e:
            if e.code() is grpc.StatusCode.UNAUTHENTICATED:
                with contextlib.suppress(OSError):
                    (path or tokens_file()).unlink()
                return None
            raise
    save(r.tokens, path)
    return r.tokens.access_token


async def service_token(
    where: Mapping[str, str], settings: ClientSettings | None = None
) -> str | None:
    """A service account's access token, signed in with LINLI_CLIENT_ID and LINLI_CLIENT_SECRET;
    None when they are not set."""
    settings = settings or ClientSettings()
    if not settings.client_id or settings.client_secret is None:
        return None
    async with channel(where["identity"], client_tls()) as ch:
        r = await IdentityServiceStub(ch).SignInService(
            pb.SignInServiceRequest(
                client_id=settings.client_id,
                client_secret=settings.client_secret.get_secret_value(),
            )
        )
    return r.tokens.access_token
