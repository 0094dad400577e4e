"""The YAML district file: parsed into organisation entries that remember their lines, so that
every error names the line it is on (pure, no I/O)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import yaml

from services.common.errors import FieldViolation, InvalidArgument
from services.common.settings import Bounds
from services.common.values import LatLng
from services.registry.domain.org import (
    BuildingGroup,
    Community,
    Grid,
    OrgEntry,
    Street,
    Unit,
    cleaned,
    validate_entry,
)

# A district file's limits: generous for the format (the full district is about 100 kB and 12
# levels deep), small enough that no file can hold the registry busy.
FILE_MAX_BYTES = 4_000_000
FILE_MAX_DEPTH = 24


@dataclass
class DistrictFile:
    streets: list[Street]
    communities: list[Community]
    grids: list[Grid]
    building_groups: list[BuildingGroup]
    units: list[Unit]

    def entries(self) -> list[OrgEntry]:
        """In the order they must be written: parents before children."""
        return [*self.streets, *self.communities, *self.grids, *self.building_groups, *self.units]


class _Reader:
    """Walks the YAML node tree so that every value keeps its line number."""

    def __init__(self) -> None:
        self.v: list[FieldViolation] = []

    def bad(self, node: yaml.Node, path: str, why: str) -> None:
        self.v.append(FieldViolation(f"line {node.start_mark.line + 1}: {path}", why))

    def mapping(self, node: yaml.Node, path: str) -> dict[str, yaml.Node] | None:
        if not isinstance(node, yaml.MappingNode):
            self.bad(node, path, "must be a mapping (key: value)")
            return None
        out: dict[str, yaml.Node] = {}
        for key, value in node.value:
            if not isinstance(key, yaml.ScalarNode):
                self.bad(key, path, "keys must be plain words")
            elif key.value in out:
                self.bad(key, f"{path}.{key.value}", "appears twice")
            else:
                out[key.value] = value
        return out

    def sequence(self, node: yaml.Node | None, path: str) -> list[yaml.Node]:
        if node is None:
            return []
        if isinstance(node, yaml.ScalarNode) and node.value in ("", "~", "null"):
            return []
        if not isinstance(node, yaml.SequenceNode):
            self.bad(node, path, "must be a list")
            return []
        return list(node.value)

    def text(self, m: dict[str, yaml.Node], key: str, parent: yaml.Node, path: str) -> str:
        node = m.get(key)
        if node is None:
            self.bad(parent, f"{path}.{key}", "is required")
            return ""
        if not isinstance(node, yaml.ScalarNode):
            self.bad(node, f"{path}.{key}", "must be text")
            return ""
        return str(node.value)

    def number(
        self, m: dict[str, yaml.Node], key: str, parent: yaml.Node, path: str, required: bool = True
    ) -> float | None:
        node = m.get(key)
        if node is None:
            if required:
                self.bad(parent, f"{path}.{key}", "is required")
            return None
        try:
            if not isinstance(node, yaml.ScalarNode):
                raise ValueError
            value = float(node.value)
            if not math.isfinite(value):
                raise ValueError
            return value
        except ValueError:
            self.bad(
                node, f"{path}.{key}", f"must be a number (got {getattr(node, 'value', '?')!r})"
            )
            return None

    def latlng(
        self, m: dict[str, yaml.Node], key: str, parent: yaml.Node, path: str, required: bool = True
    ) -> LatLng | None:
        node = m.get(key)
        if node is None:
            if required:
                self.bad(parent, f"{path}.{key}", "is required")
            return None
        inner = self.mapping(node, f"{path}.{key}")
        if inner is None:
            return None
        unknown = set(inner) - {"lat", "lng"}
        for k in sorted(unknown):
            self.bad(inner[k], f"{path}.{key}.{k}", "unknown field (expected lat, lng)")
        lat = self.number(inner, "lat", node, f"{path}.{key}")
        lng = self.number(inner, "lng", node, f"{path}.{key}")
        return None if lat is None or lng is None else LatLng(lat, lng)

    def allow_only(self, m: dict[str, yaml.Node], allowed: set[str], path: str) -> None:
        for k in sorted(set(m) - allowed):
            self.bad(m[k], f"{path}.{k}", f"unknown field (expected {', '.join(sorted(allowed))})")


# libyaml when present (as in every supported install): the same tree, several times faster.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_POSITIONS_IN_BYTES = _Loader is not yaml.SafeLoader  # libyaml counts bytes, PyYAML characters


def _line_at(text: str, position: int) -> int:
    if _POSITIONS_IN_BYTES:
        return text.encode("utf-8", "surrogatepass")[:position].count(b"\n") + 1
    return text[:position].count("\n") + 1


def _compose(text: str, max_depth: int) -> yaml.Node | None:
    """The file's node tree, refusing anchors and aliases and nesting beyond `max_depth`.

    Aliases are what make a small file expand into a huge tree (an alias bomb), and the format
    needs none; deep nesting costs time and stack. A first pass over the parser's events, which
    build nothing, refuses both before any tree is composed.
    """
    depth = 0
    for event in yaml.parse(text, Loader=_Loader):
        where = f"line {event.start_mark.line + 1}" if event.start_mark else "file"
        if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None):
            raise InvalidArgument(
                FieldViolation(where, "anchors and aliases (& and *) are not allowed")
            )
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > max_depth:
                raise InvalidArgument(
                    FieldViolation(where, f"nested more than {max_depth} levels deep")
                )
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1
    return yaml.compose(text, Loader=_Loader)  # type: ignore[no-any-return]


def parse_district(
    text: str,
    bounds: Bounds,
    *,
    max_bytes: int = FILE_MAX_BYTES,
    max_depth: int = FILE_MAX_DEPTH,
) -> DistrictFile:
    """Parse and check a district file. Raises InvalidArgument naming the line of every error."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise InvalidArgument(
            FieldViolation("content", f"the file is {size} bytes; at most {max_bytes} allowed")
        )
    try:
        root = _compose(text, max_depth)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        position = getattr(e, "position", None)  # a ReaderError (a character YAML refuses)
        if mark is not None:
            where = f"line {mark.line + 1}"
        elif isinstance(position, int):
            where = f"line {_line_at(text, position)}"
        else:
            where = "file"
        raise InvalidArgument(FieldViolation(where, f"not valid YAML: {e}")) from e
    if root is None:
        raise InvalidArgument(FieldViolation("file", "is empty"))
    r = _Reader()
    top = r.mapping(root, "file")
    if top is None:
        raise InvalidArgument(r.v)
    r.allow_only(top, {"district", "streets", "units"}, "file")
    out = DistrictFile([], [], [], [], [])

    for s_node in r.sequence(top.get("streets"), "streets"):
        s = r.mapping(s_node, "street")
        if s is None:
            continue
        r.allow_only(s, {"id", "name", "communities"}, "street")
        line = s_node.start_mark.line + 1
        street = Street(
            r.text(s, "id", s_node, "street"), r.text(s, "name", s_node, "street"), line
        )
        out.streets.append(street)
        for c_node in r.sequence(s.get("communities"), "street.communities"):
            c = r.mapping(c_node, "community")
            if c is None:
                continue
            r.allow_only(c, {"id", "name", "station", "grids"}, "community")
            community = Community(
                r.text(c, "id", c_node, "community"),
                r.text(c, "name", c_node, "community"),
                street.id,
                r.latlng(c, "station", c_node, "community"),
                c_node.start_mark.line + 1,
            )
            out.communities.append(community)
            for g_node in r.sequence(c.get("grids"), "community.grids"):
                g = r.mapping(g_node, "grid")
                if g is None:
                    continue
                r.allow_only(g, {"id", "name", "center", "radius_m", "building_groups"}, "grid")
                radius = r.number(g, "radius_m", g_node, "grid")
                grid = Grid(
                    r.text(g, "id", g_node, "grid"),
                    r.text(g, "name", g_node, "grid"),
                    community.id,
                    r.latlng(g, "center", g_node, "grid"),
                    None if radius is None else round(radius),
                    g_node.start_mark.line + 1,
                )
                out.grids.append(grid)
                for b_node in r.sequence(g.get("building_groups"), "grid.building_groups"):
                    b = r.mapping(b_node, "building_group")
                    if b is None:
                        continue
                    r.allow_only(b, {"id", "name", "location"}, "building_group")
                    out.building_groups.append(
                        BuildingGroup(
                            r.text(b, "id", b_node, "building_group"),
                            r.text(b, "name", b_node, "building_group"),
                            grid.id,
                            r.latlng(b, "location", b_node, "building_group", required=False),
                            b_node.start_mark.line + 1,
                        )
                    )
    for u_node in r.sequence(top.get("units"), "units"):
        u = r.mapping(u_node, "unit")
        if u is None:
            continue
        r.allow_only(u, {"id", "name", "kind", "community"}, "unit")
        out.units.append(
            Unit(
                r.text(u, "id", u_node, "unit"),
                r.text(u, "name", u_node, "unit"),
                r.text(u, "kind", u_node, "unit"),
                r.text(u, "community", u_node, "unit"),
                u_node.start_mark.line + 1,
            )
        )

    violations = r.v
    seen: dict[str, int] = {}  # ids are unique across the whole file, whatever their kind
    for entry in out.entries():
        prefix = f"line {entry.line}: {entry.kind}."
        violations.extend(validate_entry(entry, bounds, prefix))
        if entry.id in seen:
            violations.append(
                FieldViolation(
                    f"line {entry.line}: {entry.kind}.id",
                    f"{entry.id!r} already used on line {seen[entry.id]}",
                )
            )
        seen.setdefault(entry.id, entry.line)
    if violations:
        raise InvalidArgument(violations)
    return DistrictFile(
        [cleaned(e) for e in out.streets],
        [cleaned(e) for e in out.communities],
        [cleaned(e) for e in out.grids],
        [cleaned(e) for e in out.building_groups],
        [cleaned(e) for e in out.units],
    )
