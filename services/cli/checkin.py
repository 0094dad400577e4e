"""`linli checkin-code TASK`: a task's current check-in (or check-out) code, with its QR code
drawn in the terminal for members to scan."""

from __future__ import annotations

import io

import click
import segno

from linli.v1 import attendance_pb2 as pb
from services.cli.base import Cli, console, local_time, pass_cli
from services.client import Session

PURPOSES = {"in": pb.CHECK_IN_PURPOSE_CHECK_IN, "out": pb.CHECK_IN_PURPOSE_CHECK_OUT}


@click.command(name="checkin-code", help="Show a task's current check-in code and its QR code.")
@click.argument("task_id")
@click.option(
    "--purpose",
    type=click.Choice(list(PURPOSES), case_sensitive=False),
    default="in",
    show_default=True,
    help="check in or check out",
)
@pass_cli
def checkin_code(cli: Cli, task_id: str, purpose: str) -> None:
    req = pb.GetCheckInCodeRequest(task_id=task_id, purpose=PURPOSES[purpose.lower()])

    async def go(s: Session) -> pb.GetCheckInCodeResponse:
        return await s.attendance.GetCheckInCode(req, metadata=s.md)  # type: ignore[no-any-return]

    reply = cli.call(go)

    def text() -> None:
        drawn = io.StringIO()
        segno.make(reply.qr_text, error="m").terminal(out=drawn, compact=True)
        console.print(drawn.getvalue(), markup=False, highlight=False)
        console.print(
            f"code [bold]{reply.code}[/bold], valid until "
            f"{local_time(reply.valid_until, '%H:%M:%S')} (the code changes every "
            f"{reply.step_seconds} s; run again for the next)"
        )

    cli.emit(
        {
            "code": reply.code,
            "qr_text": reply.qr_text,
            "valid_until": reply.valid_until,
            "step_seconds": reply.step_seconds,
        },
        text,
    )
