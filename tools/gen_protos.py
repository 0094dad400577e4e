"""Generate the Python code for protos/ into gen/ (run by `make protos`; never edit gen/)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTOS = ROOT / "protos"
GEN = ROOT / "gen"


def main() -> int:
    files = sorted(str(p.relative_to(PROTOS)) for p in PROTOS.rglob("*.proto"))
    shutil.rmtree(GEN, ignore_errors=True)
    GEN.mkdir()
    well_known = Path(protoc.__file__).parent / "_proto"
    plugins = Path(sys.executable).parent  # protoc-gen-mypy lives beside the interpreter
    args = [
        "protoc",
        f"-I{PROTOS}",
        f"-I{well_known}",
        f"--python_out={GEN}",
        f"--grpc_python_out={GEN}",
        f"--plugin=protoc-gen-mypy={plugins / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={plugins / 'protoc-gen-mypy_grpc'}",
        f"--mypy_out={GEN}",
        f"--mypy_grpc_out={GEN}",
        *files,
    ]
    if protoc.main(args) != 0:
        print("protoc failed", file=sys.stderr)
        return 1
    for folder in {GEN / Path(f).parent for f in files} | {GEN / "linli"}:
        (folder / "__init__.py").touch()
        (folder / "py.typed").touch()
    print(f"generated {len(files)} protos into {GEN.relative_to(ROOT)}/", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
