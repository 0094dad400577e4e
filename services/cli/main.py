"""`linli`: what staff and administrators do, through the services' gRPC APIs.

\b
    linli district load district.yaml --members members.csv
    linli wish post --community chengli --title "为独居老人代购" --group elderly \\
        --at 36.98,117.17 --start 2026-12-05T09:00 --hours 1.5
    linli role create --community chengli --title "四点半学校" --group child --at 36.98,117.17 \\
        --days mon,tue,wed,thu,fri --from 16:30 --to 18:00 --first-date 2026-12-01 \\
        --headcount 3 --hours 1.5 --skill tutoring:2 --unit u-chengli-primary
    linli tasks list --community chengli --status open
    linli match run --community chengli            (or --street jiyang, or the whole district)
    linli member record <member id>
    linli checkin-code <task id>          (or --purpose out: the check-out code)
    linli report --month 2026-12 --community chengli --out chengli.html
    linli login --user wang.li                      (staff: password, and TOTP for admins)
    linli totp-enrol --user admin                   (an administrator, once, first)
    linli account create --user zhao --role community_staff --community binhu
    linli token --role community_staff --community binhu     (local development only)
    linli audit --member <member id>      (or --actor staff-7 --since 2026-12-01)
    linli inbox list --unread                       (the caller's own inbox; follow, read)
    linli points balance <member id>      (history <member id>; redeem <member id> --points 20
                                           --item 理发券, by the member's community staff)
    linli affairs export --street jiyang --out ledger.xlsx     (or list, show, figures)

\b
Where the services are: --registry/--tasks/--matching/..., else LINLI_<SERVICE>_ADDRESS, else
LINLI_<SERVICE>_PORT on this machine, else the ports `make up` recorded, else the defaults.
The token comes from --token or LINLI_TOKEN, else from `linli login` (refreshed when it runs
out); without one, the command signs a district administrator's token with the local key,
which only a local system accepts (the report always needs a real one).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click
from grpc import aio

from services.cli.account import account
from services.cli.affairs import affairs
from services.cli.audit import audit
from services.cli.base import Cli, err, explain_error
from services.cli.checkin import checkin_code
from services.cli.district import district
from services.cli.inbox import inbox
from services.cli.login import login, logout, totp_enrol
from services.cli.match import match
from services.cli.member import member
from services.cli.points import points
from services.cli.report import report
from services.cli.role import role
from services.cli.tasks import tasks
from services.cli.token import token
from services.cli.wish import wish


@click.group(help=__doc__, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="linli", prog_name="linli")
@click.option("--registry", metavar="HOST:PORT", help="the registry's address")
@click.option("--tasks", "tasks_at", metavar="HOST:PORT", help="the task service's address")
@click.option("--matching", metavar="HOST:PORT", help="the matching service's address")
@click.option("--identity", metavar="HOST:PORT", help="the identity service's address")
@click.option("--notifications", metavar="HOST:PORT", help="the notifications service's address")
@click.option("--points", "points_at", metavar="HOST:PORT", help="the points service's address")
@click.option("--token", "bearer", help="bearer token (default: LINLI_TOKEN)")
@click.option(
    "--output",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one JSON document on stdout, for scripts",
)
@click.pass_context
def linli(
    ctx: click.Context,
    registry: str | None,
    tasks_at: str | None,
    matching: str | None,
    identity: str | None,
    notifications: str | None,
    points_at: str | None,
    bearer: str | None,
    output: str,
) -> None:
    ctx.obj = Cli(
        given={
            "registry": registry,
            "tasks": tasks_at,
            "matching": matching,
            "identity": identity,
            "notifications": notifications,
            "points": points_at,
        },
        token=bearer,
        output=output,
    )


for command in (
    district,
    wish,
    role,
    tasks,
    match,
    member,
    report,
    token,
    audit,
    login,
    logout,
    totp_enrol,
    account,
    inbox,
    checkin_code,
    points,
    affairs,
):
    linli.add_command(command)


def parse_only(argv: Sequence[str]) -> list[str]:
    """The command path argv names, every option of it converted and checked, nothing run (the
    deployment checks use it on the commands of the manifests)."""
    ctx = linli.make_context("linli", list(argv))
    path: list[str] = []
    command: click.Command = linli
    while isinstance(command, click.Group):
        name, sub, rest = command.resolve_command(ctx, [*ctx._protected_args, *ctx.args])
        assert name is not None and sub is not None
        path.append(name)
        ctx = sub.make_context(name, rest, parent=ctx)
        command = sub
    return path


def main(argv: Sequence[str] | None = None) -> int:
    try:
        linli.main(args=list(sys.argv[1:] if argv is None else argv), standalone_mode=False)
    except click.exceptions.Exit as e:
        return e.exit_code
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except click.Abort:
        err.print("[red]aborted[/]")
        return 1
    except aio.AioRpcError as e:
        err.print(f"[red]{explain_error(e)}[/]", markup=True, highlight=False)
        return 1
    except (OSError, ValueError) as e:
        err.print(f"[red]{e}[/]", highlight=False)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
