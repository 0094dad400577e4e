"""Run a local SMS provider to try a service's LINLI_SMS__* settings against:
`python -m dev.sms_servers aliyun --port 8801 --template SMS_1:2 --template SMS_2:0`."""

from __future__ import annotations

import argparse
import time

from dev.sms_servers.aliyun import AliyunSmsServer
from dev.sms_servers.tencent import TencentSmsServer


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m dev.sms_servers")
    parser.add_argument("provider", choices=["aliyun", "tencent"])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--key-id", default="local-key-id")
    parser.add_argument("--secret", default="local-key-secret")
    parser.add_argument("--sign-name", default="邻里")
    parser.add_argument(
        "--template",
        action="append",
        default=[],
        metavar="ID:PARAMS",
        help="an approved template id and how many parameters it takes",
    )
    args = parser.parse_args()
    templates = {i: int(n) for i, n in (t.rsplit(":", 1) for t in args.template)}
    kind = AliyunSmsServer if args.provider == "aliyun" else TencentSmsServer
    server = kind(args.key_id, args.secret, sign_names={args.sign_name}, templates=templates)
    server.start(port=args.port)
    app = (
        f" LINLI_SMS__SDK_APP_ID={TencentSmsServer.sdk_app_id}"
        if args.provider == "tencent"
        else ""
    )
    print(
        f"LINLI_SMS__PROVIDER={args.provider} LINLI_SMS__ENDPOINT={server.url}"
        f" LINLI_SMS__ACCESS_KEY_ID={args.key_id} LINLI_SMS__ACCESS_KEY_SECRET={args.secret}{app}",
        flush=True,
    )
    seen = 0
    try:
        while True:
            time.sleep(0.5)
            for message in server.received[seen:]:
                print(f"{message.phone} {message.template_id} {message.params}", flush=True)
            seen = len(server.received)
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
