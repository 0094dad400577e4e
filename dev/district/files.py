"""The district as files: district.yaml (written the way people write YAML by hand) and
members.csv; see docs/district-file.md."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import yaml

from dev.district.generate import District, counts

CSV_COLUMNS: tuple[str, ...] = (
    "request_id",
    "name",
    "phone",
    "lat",
    "lng",
    "community_id",
    "grid_id",
    "building_group_id",
    "unit_id",
    "skills",
    "availability",
    "hours_per_month",
)


class _Flow(dict[str, Any]):
    """A mapping YAML writes on one line: points, bounds, building groups, units."""


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # Indent list items under their key, as people write YAML by hand.
        super().increase_indent(flow, False)

    def ignore_aliases(self, data: Any) -> bool:
        return True


_Dumper.add_representer(
    _Flow,
    lambda dumper, data: dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True),
)
_FLOW_KEYS = {"bounds", "station", "center", "location"}
_FLOW_LISTS = {"building_groups", "units"}


def _flowed(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        inner = {k: _flowed(v, k) for k, v in value.items()}
        return _Flow(inner) if key in _FLOW_KEYS else inner
    if isinstance(value, list):
        if key in _FLOW_LISTS:
            return [_Flow({k: _flowed(v, k) for k, v in item.items()}) for item in value]
        return [_flowed(item) for item in value]
    return value


def org_summary(c: dict[str, int]) -> str:
    return (
        f"streets {c['streets']}, communities {c['communities']}, grids {c['grids']},"
        f" building groups {c['building_groups']}, units {c['units']}"
    )


def yaml_text(district: District) -> str:
    """The district.yaml text for a district."""
    c = counts(district)
    header = (
        "# SYNTHETIC DATA, not a record of real places or people: a made-up district shaped\n"
        "# like the 2018 Jiyang case. Made by dev/gen_district.py"
        f" (seed {district.seed}{', --small' if district.small else ''}):\n"
        f"#   python -m dev.gen_district --seed {district.seed}"
        f"{' --small' if district.small else ''} --members {c['members']}\n"
        f"# {org_summary(c)};\n"
        f"# members {c['members']} (members.csv beside this file). Format: docs/district-file.md\n"
    )
    body = yaml.dump(
        _flowed(district.org),
        Dumper=_Dumper,
        allow_unicode=True,
        sort_keys=False,
        default_flow_style=False,
        width=1000,
    )
    return header + body


def csv_text(district: District) -> str:
    """The members.csv text for a district."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(district.members)
    return out.getvalue()


def write(district: District, out_dir: str | Path) -> tuple[Path, Path]:
    """Write district.yaml and members.csv into out_dir (created if missing); return both paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    yaml_path, csv_path = out / "district.yaml", out / "members.csv"
    yaml_path.write_bytes(yaml_text(district).encode("utf-8"))
    csv_path.write_bytes(csv_text(district).encode("utf-8"))
    return yaml_path, csv_path
