"""The house rules that hold the code together: no service imports another, the shared kernel
imports no service, a domain stays free of its store, its API and I/O libraries (the contracts in
pyproject.toml), each value every service shares is defined once, in services/common, no
hand-written module grows past 400 lines, and every service has the same rooms."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "services"
# The services the wall stands between, and their shared kernel.
CHECKED = (
    "common",
    "registry",
    "tasks",
    "matching",
    "notifications",
    "points",
    "affairs",
    "cli",
    "client",
    "report",
    "console",
)


def test_the_import_contracts_hold() -> None:
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from importlinter.cli import lint_imports; "
            "sys.exit(lint_imports(no_cache=True))",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


def _sources() -> list[Path]:
    return sorted(p for name in CHECKED for p in (SERVICES / name).rglob("*.py"))


# What must be written once, and the one module that writes it.
DEFINED_ONCE = [
    (r"ZoneInfo\(", "common/values.py"),
    (r"\b0\.003\b", "common/values.py"),
    (r"EARTH_RADIUS_M\s*=", "common/values.py"),
    (r"def distance_m\b", "common/values.py"),
    (r"def public_place\b|def approximate\b", "common/values.py"),
    (r"class (LatLng|Beneficiary|TimeWindow|WeeklyWindow)\b", "common/values.py"),
    (r"if (self\.)?flexible else", "common/values.py"),
    (r"BENEFICIARY_GROUP_", "common/protoconv.py"),
    (
        r"FromDatetime|ToDatetime|fromtimestamp\(\w+\.seconds|Timestamp\(seconds=",
        "common/protoconv.py",
    ),
    (
        r"[\"']linli\.(registry|tasks|matching|identity|points|notifications|affairs)\b",
        "common/subjects.py",
    ),
    (r"class Violations\b|def check_request_id\b", "common/checks.py"),
]


@pytest.mark.parametrize(("pattern", "home"), DEFINED_ONCE)
def test_each_shared_value_is_written_once_in_common(pattern: str, home: str) -> None:
    found = {
        str(p.relative_to(SERVICES))
        for p in _sources()
        if re.search(pattern, p.read_text(encoding="utf-8"))
    }
    assert found == {home}


@pytest.mark.parametrize(("pattern", "home"), DEFINED_ONCE)
def test_dev_bench_and_tools_use_the_shared_values_instead_of_copies(
    pattern: str, home: str
) -> None:
    copies = sorted(
        str(p.relative_to(ROOT))
        for top in ("dev", "bench", "tools")
        for p in (ROOT / top).rglob("*.py")
        if re.search(pattern, p.read_text(encoding="utf-8"))
    )
    assert copies == [], f"use services/{home} instead"


# --- Rooms of a sensible size -------------------------------------------------------------------

# Hand-written code lives in these folders (the generated code is in gen/, outside them).
HAND_WRITTEN = ("services", "dev", "bench", "tools")
MOST_LINES = 400
# Modules over the limit today, with their size: each may only shrink, and comes off the list
# once it is split (the test says when).
TOO_LONG_TODAY: dict[str, int] = {}


def _module_lines() -> dict[str, int]:
    return {
        str(p.relative_to(ROOT)): len(p.read_text(encoding="utf-8").splitlines())
        for top in HAND_WRITTEN
        for p in (ROOT / top).rglob("*.py")
        if "__pycache__" not in p.parts
    }


def test_no_hand_written_module_is_longer_than_400_lines() -> None:
    too_long = {
        path: n
        for path, n in _module_lines().items()
        if n > MOST_LINES and n > TOO_LONG_TODAY.get(path, 0)
    }
    assert too_long == {}, f"split these into modules of at most {MOST_LINES} lines"


def test_the_list_of_long_modules_only_names_modules_still_too_long() -> None:
    lines = _module_lines()
    split = sorted(p for p in TOO_LONG_TODAY if lines.get(p, 0) <= MOST_LINES)
    assert split == [], "these are split (or gone): take them off TOO_LONG_TODAY"


# --- The same rooms in every service ------------------------------------------------------------

# What each service has, by the same names (docs/architecture.md says what goes in each room);
# a name ending in "/" is a package (or, for migrations, a folder). "service" may be a module or
# a package once it grows.
ROOMS = (
    "domain/",
    "domain/errors.py",
    "events.py",
    "store/",
    "store/records.py",
    "store/memory.py",
    "service",
    "api.py",
    "convert.py",
    "app.py",
    "__main__.py",
    "migrations/",
)
# The services that consume events have their handler table.
CONSUMERS = ("tasks", "matching", "identity", "notifications", "points", "affairs")
# Each service's tests in the tiers that mirror its layers.
TEST_ROOMS = ("tests/usecase/test_{svc}_*.py", "tests/contract/test_{svc}_store.py")
DOMAIN_SERVICES = (
    "registry",
    "tasks",
    "matching",
    "identity",
    "notifications",
    "points",
    "affairs",
)

# Rooms not built yet: the list empties as each service moves in (the test says when one is
# there, so that it comes off the list).
NOT_YET_THERE: set[tuple[str, str]] = set()


def _room_is_there(svc: str, room: str) -> bool:
    if room.startswith("tests/"):
        return any(ROOT.glob(room.format(svc=svc)))
    home = SERVICES / svc
    if room == "service":
        return (home / "service.py").is_file() or (home / "service" / "__init__.py").is_file()
    if room == "migrations/":
        return (home / "migrations").is_dir()
    if room.endswith("/"):
        return (home / room / "__init__.py").is_file()
    return (home / room).is_file()


def _rooms(svc: str) -> list[str]:
    consumer = ("handlers.py",) if svc in CONSUMERS else ()
    return [*ROOMS, *consumer, *(t.replace("{svc}", svc) for t in TEST_ROOMS)]


@pytest.mark.parametrize("svc", DOMAIN_SERVICES)
def test_each_service_has_the_same_rooms(svc: str) -> None:
    missing = {room for room in _rooms(svc) if not _room_is_there(svc, room)}
    expected = {room for s, room in NOT_YET_THERE if s == svc}
    assert missing - expected == set(), f"{svc} lacks rooms every service has"
    assert expected - missing == set(), f"{svc} has these now: take them off NOT_YET_THERE"
