"""A local HTTP server that speaks the WeChat API the notifications service uses: access tokens
from /cgi-bin/stable_token and subscription messages by /cgi-bin/message/subscribe/send, with
WeChat's error codes (40001 invalid token, 42001 expired, 43101 the user refused, 40037 template
unknown), for the tests and to try the LINLI_WECHAT__* settings:
`python -m dev.wechat_server --port 8803 --template reminder=TPL_REMINDER`."""

from __future__ import annotations

import argparse
import json
import secrets
import time
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from dev.sms_servers.base import Answer, ProviderServer, Received, Request

INVALID_TOKEN = 40001
EXPIRED_TOKEN = 42001
INVALID_CREDENTIAL = 40125
UNKNOWN_TEMPLATE = 40037
USER_REFUSED = 43101


@dataclass
class WeChatServer(ProviderServer):
    """`access_key_id` is the appid, `access_key_secret` its secret; `templates` the approved
    template ids. `received` holds each message sent: the openid as `phone`, its data's values."""

    refused: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        super().__post_init__()
        self._tokens: dict[str, bool] = {}  # token -> expired

    def expire_tokens(self) -> None:
        """Every token given so far is expired from now on (42001), as after two hours."""
        with self._lock:
            self._tokens = dict.fromkeys(self._tokens, True)

    def error(self, code: str, message: str, status: int = 200) -> Answer:
        return Answer(status, {"errcode": int(code), "errmsg": message})

    def answer(self, request: Request) -> Answer:
        try:
            body = json.loads(request.body or b"{}")
        except ValueError:
            return self.error("47001", "data format error")
        if request.path == "/cgi-bin/stable_token":
            return self._token(body)
        if request.path == "/cgi-bin/message/subscribe/send":
            token = parse_qs(request.query).get("access_token", [""])[0]
            return self._send(token, body)
        return Answer(404, {"errcode": 404, "errmsg": "not found"})

    def _token(self, body: dict[str, object]) -> Answer:
        if body.get("grant_type") != "client_credential":
            return self.error("40002", "invalid grant_type")
        if body.get("appid") != self.access_key_id or body.get("secret") != self.access_key_secret:
            return self.error(str(INVALID_CREDENTIAL), "invalid appsecret")
        token = secrets.token_hex(16)
        with self._lock:
            if body.get("force_refresh"):
                self._tokens.clear()
            self._tokens[token] = False
        return Answer(200, {"access_token": token, "expires_in": 7200})

    def _send(self, token: str, body: dict[str, object]) -> Answer:
        with self._lock:
            expired = self._tokens.get(token)
        if expired is None:
            return self.error(str(INVALID_TOKEN), "invalid credential, access_token is invalid")
        if expired:
            return self.error(str(EXPIRED_TOKEN), "access_token expired")
        template = str(body.get("template_id", ""))
        if template not in self.templates:
            return self.error(str(UNKNOWN_TEMPLATE), "invalid template_id")
        openid = str(body.get("touser", ""))
        if openid in self.refused:
            return self.error(str(USER_REFUSED), "user refuse to accept the msg")
        data = body.get("data")
        values = (
            {k: str(v.get("value", "")) for k, v in data.items()} if isinstance(data, dict) else {}
        )
        self.keep(Received(openid, "", template, values))
        return Answer(200, {"errcode": 0, "errmsg": "ok", "msgid": int(time.time() * 1000)})


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m dev.wechat_server")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--appid", default="wx-local-app")
    parser.add_argument("--secret", default="local-app-secret")
    parser.add_argument(
        "--template",
        action="append",
        default=[],
        metavar="KIND=ID",
        help="an item kind and the template id approved for it",
    )
    args = parser.parse_args()
    kinds = dict(t.split("=", 1) for t in args.template)
    server = WeChatServer(args.appid, args.secret, templates={i: 3 for i in kinds.values()})
    server.start(port=args.port)
    print(
        f"LINLI_WECHAT__APPID={args.appid}"
        f" LINLI_WECHAT__SECRET={args.secret}"
        f" LINLI_WECHAT__BASE_URL={server.url}"
        f" LINLI_WECHAT__TEMPLATES='{json.dumps(kinds)}'",
        flush=True,
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
