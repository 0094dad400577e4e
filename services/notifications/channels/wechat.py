"""Items as WeChat subscription messages, through the official API: an access token from
/cgi-bin/stable_token (cached until shortly before it expires, fetched anew when WeChat says it
is invalid or expired: 40001, 42001), then POST /cgi-bin/message/subscribe/send with the member's
openid, the kind's approved template, its data and the page it opens. 43101 means the member
refused further messages: the channel stops for them."""

from __future__ import annotations

import time
from typing import Any

import httpx

from services.common.settings.services import WeChatSettings
from services.common.values import LOCAL_TZ
from services.notifications.domain.world import WECHAT
from services.notifications.store import Job, Outcome

TOKEN_EXPIRED = (40001, 42001)
USER_REFUSED = 43101
# WeChat is busy: worth another try.
BUSY = (-1, 45009)
# What a `thing` field of a subscription message holds at most.
THING_MAX = 20


def data_of(job: Job) -> dict[str, dict[str, str]]:
    """The template's fields: thing1 the title, thing2 the start of the words, time3 when."""
    item = job.item
    return {
        "thing1": {"value": item.title[:THING_MAX]},
        "thing2": {"value": item.body[:THING_MAX]},
        "time3": {"value": item.create_time.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M")},
    }


class WeChatChannel:
    name = WECHAT

    def __init__(self, settings: WeChatSettings, client: httpx.AsyncClient | None = None) -> None:
        self.settings = settings
        self.client = client or httpx.AsyncClient(
            base_url=settings.base_url.rstrip("/"), timeout=settings.timeout_s
        )
        self._token = ""
        self._expires = 0.0

    async def _access_token(self, force: bool = False) -> str:
        if self._token and not force and time.monotonic() < self._expires:
            return self._token
        reply = await self.client.post(
            "/cgi-bin/stable_token",
            json={
                "grant_type": "client_credential",
                "appid": self.settings.appid,
                "secret": self.settings.secret.get_secret_value(),
                "force_refresh": force,
            },
        )
        reply.raise_for_status()
        body: dict[str, Any] = reply.json()
        if "access_token" not in body:
            raise httpx.HTTPError(f"stable_token errcode {body.get('errcode')}")
        self._token = body["access_token"]
        # Renewed five minutes early: a token in flight must not expire on the way.
        self._expires = time.monotonic() + max(60, int(body.get("expires_in", 7200)) - 300)
        return self._token

    async def _post(self, job: Job, template_id: str, token: str) -> int:
        reply = await self.client.post(
            "/cgi-bin/message/subscribe/send",
            params={"access_token": token},
            json={
                "touser": job.openid,
                "template_id": template_id,
                "page": self.settings.page,
                "data": data_of(job),
            },
        )
        reply.raise_for_status()
        return int(reply.json().get("errcode", 0))

    async def send(self, job: Job) -> tuple[Outcome, str]:
        template_id = self.settings.templates.get(job.item.kind.value)
        if not self.settings.appid or not template_id:
            return Outcome.DROPPED, f"no WeChat template for {job.item.kind.value}"
        if not job.openid:
            return Outcome.DROPPED, "no openid for the member"
        try:
            code = await self._post(job, template_id, await self._access_token())
            if code in TOKEN_EXPIRED:
                code = await self._post(job, template_id, await self._access_token(force=True))
        except httpx.HTTPError as e:
            return Outcome.RETRY, f"wechat: {type(e).__name__}"
        if code == 0:
            return Outcome.SENT, ""
        if code == USER_REFUSED:
            return Outcome.REFUSED, "the member refused subscription messages"
        if code in BUSY or code in TOKEN_EXPIRED:
            return Outcome.RETRY, f"wechat errcode {code}"
        return Outcome.DROPPED, f"wechat errcode {code}"

    async def aclose(self) -> None:
        await self.client.aclose()
