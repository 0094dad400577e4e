"""Client stubs for other languages: `make clients` generates Go, Java and TypeScript from protos/
by local plugins, every proto names its Go and Java package, and each language's stubs compile
against the runtime libraries a client of that language would use."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from google.protobuf.descriptor import FileDescriptor

from linli.v1 import (
    attendance_pb2,
    audit_pb2,
    common_pb2,
    events_pb2,
    matching_pb2,
    registry_pb2,
    tasks_pb2,
)

ROOT = Path(__file__).resolve().parent.parent.parent
CLIENTS = ROOT / "clients"
FILES: list[FileDescriptor] = [
    m.DESCRIPTOR
    for m in (
        attendance_pb2,
        audit_pb2,
        common_pb2,
        events_pb2,
        matching_pb2,
        registry_pb2,
        tasks_pb2,
    )
]
GO_IMPORT = "github.com/linli/linli/clients/go/linli/v1"
JAVA_PACKAGE = "cn.linli.v1"
# Debian's packages: the Go libraries as a GOPATH tree, the Java libraries as jars.
GOCODE = Path("/usr/share/gocode")
JARS = [
    Path("/usr/share/java") / f"{name}.jar"
    for name in (
        "protobuf",
        "grpc-api",
        "grpc-stub",
        "grpc-protobuf",
        "grpc-protobuf-lite",
        "guava",
        "geronimo-annotation-1.3-spec",  # javax.annotation.Generated, on grpc-java's stubs
    )
]
PLUGINS = ("protoc", "protoc-gen-go", "protoc-gen-go-grpc", "grpc_java_plugin")


def succeeds(args: list[str], **options: Any) -> None:
    """Run a command; a failure shows what it printed."""
    done = subprocess.run(args, check=False, capture_output=True, text=True, **options)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def clients() -> Path:
    """Stubs as `make clients` writes them, installing its plugins when it may."""
    if shutil.which("npm") is None:
        pytest.skip("NO NPM: the buf CLI and the TypeScript plugin come from the npm registry")
    missing = [p for p in PLUGINS if shutil.which(p) is None]
    if missing and (os.geteuid() != 0 or shutil.which("apt-get") is None):
        pytest.skip(f"NO PLUGINS {missing}: Debian's packages, and this is not root with apt-get")
    succeeds(["make", "clients"], cwd=ROOT, timeout=1200)
    return CLIENTS


def test_every_proto_names_one_go_and_one_java_package() -> None:
    for file in FILES:
        options = file.GetOptions()
        assert options.go_package == f"{GO_IMPORT};linliv1", file.name
        assert options.java_package == JAVA_PACKAGE, file.name
        assert options.java_multiple_files, file.name


def test_each_language_has_stubs_for_every_file_and_service(clients: Path) -> None:
    for file in FILES:
        stem = Path(file.name).stem
        assert (clients / "go/linli/v1" / f"{stem}.pb.go").is_file()
        assert (clients / "ts/linli/v1" / f"{stem}_pb.ts").is_file()
        for service in file.services_by_name:
            assert (clients / "go/linli/v1" / f"{stem}_grpc.pb.go").is_file()
            assert (clients / "java/cn/linli/v1" / f"{service}Grpc.java").is_file()
            assert (
                f"export const {service}: GenService"
                in (clients / "ts/linli/v1" / f"{stem}_pb.ts").read_text()
            )
    # Generated files only: nothing of it is tracked.
    tracked = subprocess.run(
        ["git", "ls-files", "clients"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout
    assert tracked == ""


def test_go_stubs_compile(clients: Path, tmp_path: Path) -> None:
    go = shutil.which("go")
    if go is None or not (GOCODE / "src/google.golang.org/grpc").is_dir():
        pytest.skip("NO GO: Debian's golang-go and Go gRPC libraries are missing; Go NOT checked")
    # The package at its import path in a GOPATH of its own, beside Debian's libraries.
    shutil.copytree(clients / "go/linli/v1", tmp_path / "src" / GO_IMPORT)
    env = {
        **os.environ,
        "GO111MODULE": "off",
        "GOPATH": f"{tmp_path}:{GOCODE}",
        "GOCACHE": str(tmp_path / "cache"),
        "GOFLAGS": "",
    }
    succeeds([go, "vet", GO_IMPORT], env=env, timeout=600)


def test_java_stubs_compile(clients: Path, tmp_path: Path) -> None:
    javac = shutil.which("javac")
    if javac is None or not all(jar.is_file() for jar in JARS):
        pytest.skip("NO JAVAC or Debian's protobuf/grpc-java jars; Java NOT checked")
    sources = sorted(str(p) for p in (clients / "java").rglob("*.java"))
    classpath = ":".join(map(str, JARS))
    succeeds([javac, "-nowarn", "-d", str(tmp_path), "-cp", classpath, *sources], timeout=600)
    assert (tmp_path / "cn/linli/v1/RegistryServiceGrpc.class").is_file()


def test_typescript_stubs_compile(clients: Path, tmp_path: Path) -> None:
    modules = ROOT / ".linli/clients/node_modules"
    # Beside the runtime they import, as in a client's own project.
    shutil.copytree(clients / "ts", tmp_path / "ts")
    (tmp_path / "node_modules").symlink_to(modules)
    (tmp_path / "tsconfig.json").write_text(
        '{"compilerOptions": {"strict": true, "target": "ES2022", "module": "ESNext",'
        ' "moduleResolution": "Bundler", "noEmit": true, "types": []},'
        ' "include": ["ts/**/*.ts"]}'
    )
    succeeds([str(modules / ".bin/tsc"), "-p", str(tmp_path)], timeout=600)
