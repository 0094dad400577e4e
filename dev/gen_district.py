"""Deterministic generator of a synthetic district shaped like the 2018 Jiyang case.

Writes district.yaml (the organisation and units) and members.csv; see docs/district-file.md.
The parts live in dev/district/; this module is the command and the names callers use.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from dev.district.files import CSV_COLUMNS, csv_text, org_summary, write, yaml_text
from dev.district.generate import District, counts, generate
from dev.district.members import DAY_NAMES, MemberRow
from dev.district.shape import DEFAULT_SEED, FULL_MEMBERS, SCHOOL_ID, SMALL_MEMBERS

__all__ = [
    "CSV_COLUMNS",
    "DAY_NAMES",
    "SCHOOL_ID",
    "District",
    "MemberRow",
    "counts",
    "csv_text",
    "generate",
    "main",
    "write",
    "yaml_text",
]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m dev.gen_district",
        description="Generate a synthetic district (district.yaml + members.csv).",
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="default %(default)s")
    parser.add_argument(
        "--members",
        type=int,
        default=None,
        help=f"number of members (default {FULL_MEMBERS}, or {SMALL_MEMBERS} with --small)",
    )
    parser.add_argument(
        "--small", action="store_true", help="one street, five communities, for fast tests"
    )
    parser.add_argument("--out", default=".linli/district", help="output folder (%(default)s)")
    args = parser.parse_args(argv)
    try:
        district = generate(seed=args.seed, members=args.members, small=args.small)
    except ValueError as e:
        parser.error(str(e))
    yaml_path, csv_path = write(district, args.out)
    c = counts(district)
    print(f"{yaml_path}: {org_summary(c)}")
    print(f"{csv_path}: members {c['members']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
