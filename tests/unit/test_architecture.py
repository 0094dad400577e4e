"""The house rules that hold the code together: no service imports another, the shared kernel
imports no service, a domain stays free of its store, its API and I/O libraries (the contracts in
pyproject.toml), and each value every service shares is defined once, in services/common."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ROOT / "services"
# The services the wall stands between, and their shared kernel.
CHECKED = ("common", "registry", "tasks", "matching", "cli", "client", "report")


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
    (r"[\"']linli\.(registry|tasks|matching)\b", "common/subjects.py"),
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
