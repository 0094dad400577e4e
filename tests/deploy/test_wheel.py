"""The wheel: built from a clean checkout as `make wheel` builds it, it holds the services and the
generated protobuf code, and nothing of the local servers, the demo or the benchmarks."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent


def clean_checkout(into: Path) -> Path:
    """The files git would hand to a fresh clone (tracked, or new and not ignored): no gen/, no
    environment, no caches."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    ).stdout.split(b"\0")
    for raw in filter(None, listed):
        source = ROOT / raw.decode()
        if source.is_file():  # a file deleted in the work tree but still in the index is skipped
            target = into / raw.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    return into


def uv() -> str:
    local = ROOT / ".linli/uv/bin/uv"
    found = str(local) if local.exists() else shutil.which("uv")
    if found is None:
        pytest.skip("NO UV: `make setup` installs it; the wheel was NOT checked")
    return found


@pytest.fixture(scope="module")
def wheel_files(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    checkout = clean_checkout(tmp_path_factory.mktemp("checkout"))
    assert not (checkout / "gen").exists()
    subprocess.run([sys.executable, "tools/gen_protos.py"], cwd=checkout, check=True, timeout=300)
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [uv(), "build", "--wheel", "--out-dir", str(out)],
        cwd=checkout,
        check=True,
        capture_output=True,
        timeout=600,
    )
    (wheel,) = out.glob("linli-*.whl")
    return zipfile.ZipFile(wheel).namelist()


def test_the_wheel_holds_the_generated_protobuf_code(wheel_files: list[str]) -> None:
    for name in ("common_pb2.py", "events_pb2.py", "tasks_pb2_grpc.py", "registry_pb2.pyi"):
        assert f"linli/v1/{name}" in wheel_files


def test_the_wheel_holds_the_services_their_migrations_and_the_command(
    wheel_files: list[str],
) -> None:
    for module in (
        "services/registry/__main__.py",
        "services/tasks/__main__.py",
        "services/matching/__main__.py",
        "services/identity/__main__.py",
        "services/notifications/__main__.py",
        "services/points/__main__.py",
        "services/affairs/__main__.py",
        "services/cli/main.py",
        "services/common/migrate_all.py",
    ):
        assert module in wheel_files
    assert any(
        f.startswith("services/tasks/migrations/") and f.endswith(".sql") for f in wheel_files
    )
    assert "services/points/migrations/0001_points.sql" in wheel_files


def test_the_wheel_holds_no_dev_bench_or_build_code(wheel_files: list[str]) -> None:
    tops = {f.split("/")[0] for f in wheel_files}
    assert tops == {"services", "linli", next(t for t in tops if t.endswith(".dist-info"))}
    assert not [f for f in wheel_files if "localinfra" in f or "__pycache__" in f]


def test_the_image_copies_no_dev_or_bench_code() -> None:
    copies = [
        line.split()[1]
        for line in (ROOT / "Dockerfile").read_text().splitlines()
        if line.startswith("COPY ") and "--from" not in line
    ]
    assert not [c for c in copies if c.split("/")[0] in {"dev", "bench", "scripts", "tests", "."}]
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {"dev", "bench"} <= ignored
