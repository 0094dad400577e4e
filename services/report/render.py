"""The month's report as one self-contained HTML file (no internet needed) that a community
secretary would rather look at than read a table.

A map of the district (communities, places filled and left open, who was matched where), per
community figures, the spread of hours across members, what stayed unfilled and why, and the
matching run's figures against first come first served on the same input.
"""

from __future__ import annotations

import html
import math
import statistics
from collections import Counter, defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from linli.v1 import tasks_pb2
from services.report import attendance, ledger
from services.report import points as points_section
from services.report.data import LOCAL, Data

GROUP_NAMES = {1: "elderly 老", 2: "child 少", 3: "disabled 残", 4: "poor 贫", 5: "other 其他"}
PRIORITY = (1, 2, 3, 4)
DONE = (tasks_pb2.ASSIGNMENT_STATE_ACCEPTED, tasks_pb2.ASSIGNMENT_STATE_COMPLETED)
PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#e15759",
    "#76b7b2",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#bab0ac",
    "#1f77b4",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#17becf",
)


# -- drawing ---------------------------------------------------------------------------------------


def esc(value: object) -> str:
    return html.escape(str(value))


class Frame:
    """Lat/lng to SVG pixels over the district's extent (equirectangular; a few km across)."""

    def __init__(self, points: list[tuple[float, float]], width: int = 900, pad: int = 20) -> None:
        lats, lngs = [p[0] for p in points], [p[1] for p in points]
        self.lat0, self.lat1 = min(lats), max(lats)
        self.lng0, self.lng1 = min(lngs), max(lngs)
        self.k = math.cos(math.radians((self.lat0 + self.lat1) / 2))
        span_x = (self.lng1 - self.lng0) * self.k or 1e-6
        span_y = (self.lat1 - self.lat0) or 1e-6
        self.scale = (width - 2 * pad) / span_x
        self.pad = pad
        self.width = width
        self.height = int(span_y * self.scale + 2 * pad)

    def xy(self, lat: float, lng: float) -> tuple[float, float]:
        return (
            self.pad + (lng - self.lng0) * self.k * self.scale,
            self.pad + (self.lat1 - lat) * self.scale,
        )

    def metres(self, m: float) -> float:
        return m / 111_320 * self.scale


def draw_map(d: Data) -> str:
    homes = {m.id: m.home for ms in d.members.values() for m in ms if m.HasField("home")}
    points = [(g.center.latitude, g.center.longitude) for g in d.grids] + [
        (t.location.latitude, t.location.longitude) for t in d.tasks
    ]
    if not points:
        return "<p>No places to draw.</p>"
    f = Frame(points)
    colour = {
        c.id: PALETTE[i % len(PALETTE)]
        for i, c in enumerate(sorted(d.communities, key=lambda c: c.id))
    }
    parts = [
        f'<svg id="map" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {f.width} '
        f'{f.height}" width="100%" role="img" aria-label="district map">',
        f'<rect width="{f.width}" height="{f.height}" fill="#f7f7f2"/>',
    ]
    for g in d.grids:
        x, y = f.xy(g.center.latitude, g.center.longitude)
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{f.metres(g.radius_m):.1f}" '
            f'fill="{colour.get(g.community_id, "#ccc")}" fill-opacity="0.18" '
            f'stroke="{colour.get(g.community_id, "#ccc")}" stroke-opacity="0.4"/>'
        )
    tasks = {t.id: t for t in d.tasks}
    for a in d.planned[:1500]:
        t, home = tasks.get(a.task_id), homes.get(a.member_id)
        if t is None or home is None:
            continue
        x1, y1 = f.xy(home.latitude, home.longitude)
        x2, y2 = f.xy(t.location.latitude, t.location.longitude)
        parts.append(
            f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" '
            'stroke="#555" stroke-opacity="0.18" stroke-width="0.8"/>'
        )
    for t in d.tasks:
        taken = sum(1 for a in d.assignments.get(t.id, []) if a.state in DONE)
        state = "filled" if taken >= t.headcount else "partly" if taken else "open"
        fill = {"filled": "#2e7d32", "partly": "#f9a825", "open": "#c62828"}[state]
        x, y = f.xy(t.location.latitude, t.location.longitude)
        title = esc(f"{t.title} · {t.community_id} · {taken}/{t.headcount} places")
        if t.kind == tasks_pb2.TASK_KIND_ROLE_OCCURRENCE:
            parts.append(
                f'<rect class="task {state}" x="{x - 3:.1f}" y="{y - 3:.1f}" width="6" '
                f'height="6" fill="{fill}"><title>{title}</title></rect>'
            )
        else:
            parts.append(
                f'<circle class="task {state}" cx="{x:.1f}" cy="{y:.1f}" r="2.6" '
                f'fill="{fill}"><title>{title}</title></circle>'
            )
    for c in d.communities:
        x, y = f.xy(c.station.latitude, c.station.longitude)
        parts.append(
            f'<text x="{x:.1f}" y="{y - 8:.1f}" text-anchor="middle" font-size="12" '
            f'font-weight="600" fill="#222" stroke="#fff" stroke-width="3" '
            f'paint-order="stroke">{esc(c.name)}</text>'
        )
    bar = f.metres(1000)
    parts.append(
        f'<line x1="{f.pad}" y1="{f.height - 8}" x2="{f.pad + bar:.1f}" '
        f'y2="{f.height - 8}" stroke="#222" stroke-width="2"/><text x="{f.pad}" '
        f'y="{f.height - 12}" font-size="11">1 km</text>'
    )
    parts.append("</svg>")
    return "\n".join(parts)


def bars(values: list[tuple[str, float]], unit: str = "", width: int = 420) -> str:
    top = max((v for _, v in values), default=1) or 1
    rows = []
    for i, (label, v) in enumerate(values):
        w = v / top * (width - 160)
        rows.append(
            f'<text x="0" y="{i * 22 + 15}" font-size="12">{esc(label)}</text>'
            f'<rect x="120" y="{i * 22 + 4}" width="{w:.1f}" height="14" fill="#4e79a7"/>'
            f'<text x="{124 + w:.1f}" y="{i * 22 + 15}" font-size="11">{v:,.0f}{unit}'
            "</text>"
        )
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{len(values) * 22}">'
        + "".join(rows)
        + "</svg>"
    )


def table(headers: list[str], rows: list[list[Any]], cls: str = "") -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{esc(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="{cls}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


# -- the page --------------------------------------------------------------------------------------


def render(d: Data, story: Sequence[tuple[str, Any]] = ()) -> str:
    """The page; `story` adds a table of what happened (the demo tells its month there)."""
    tasks_by_community: dict[str, list[tasks_pb2.Task]] = defaultdict(list)
    for t in d.tasks:
        tasks_by_community[t.community_id].append(t)
    distances: dict[str, list[float]] = defaultdict(list)
    task_community = {t.id: t.community_id for t in d.tasks}
    for plan in d.planned:
        distances[task_community.get(plan.task_id, "")].append(plan.distance_m)
    hours_by_member: dict[str, float] = defaultdict(float)
    given = attendance.hours_given(d)
    rows = []
    for c in sorted(d.communities, key=lambda c: (c.street_id, c.id)):
        ts = tasks_by_community[c.id]
        wishes = [t for t in ts if t.kind == tasks_pb2.TASK_KIND_WISH]
        filled_wishes = sum(
            1
            for t in wishes
            if sum(1 for a in d.assignments[t.id] if a.state in DONE) >= t.headcount
        )
        groups: Counter[int] = Counter()
        hours = 0.0
        for t in ts:
            for a in d.assignments[t.id]:
                if a.state in DONE and t.beneficiary_group in PRIORITY:
                    groups[t.beneficiary_group] += 1
            for member_id, h in given.get(t.id, {}).items():
                hours += h
                hours_by_member[member_id] += h
        dist = distances.get(c.id, [])
        rows.append(
            [
                d.streets.get(c.street_id, c.street_id),
                c.name,
                len(d.members.get(c.id, [])),
                len(wishes),
                filled_wishes,
                *(groups[g] for g in PRIORITY),
                f"{hours:,.1f}",
                f"{statistics.fmean(dist):,.0f}" if dist else "-",
            ]
        )
    community_table = table(
        [
            "street",
            "community",
            "members reported in",
            "wishes posted",
            "wishes filled",
            "elderly places",
            "children places",
            "disabled places",
            "poor places",
            "hours given",
            "mean distance m",
        ],
        rows,
        "communities",
    )

    served = sorted(hours_by_member.values(), reverse=True)
    buckets = Counter(min(int(h // 2) * 2, 16) for h in served)
    spread = [
        (f"{b}-{b + 2} h" if b < 16 else "16 h +", float(buckets[b])) for b in range(0, 18, 2)
    ]
    top_share = sum(served[: max(1, len(served) // 10)]) / sum(served) if served else 0
    reasons: Counter[str] = Counter()
    explain: dict[str, str] = {}
    for u in d.unfilled:
        reasons[u.reason] += u.places
        explain[u.reason] = u.explanation
    unfilled_rows = [[explain[r], n] for r, n in reasons.most_common()]

    run = d.run
    run_rows: list[list[Any]] = []
    if run is not None:
        run_rows = [
            ["run", run.id],
            ["scope", f"{run.scope_kind} {run.scope_id}".strip()],
            [
                "input",
                f"{run.members:,} members, {run.tasks:,} tasks, {run.places:,} places, "
                f"{run.candidate_pairs:,} candidate pairs, {run.components} sub-problems",
            ],
            [
                "time",
                f"load {run.load_s:.2f}s · candidates {run.candidates_s:.2f}s · solve "
                f"{run.solve_s:.2f}s · write {run.write_s:.2f}s",
            ],
            [
                "quality",
                f"{run.solver_status}: {run.objective:,.0f} points, proven bound "
                f"{run.bound:,.0f}, gap {run.gap * 100:.4f} %",
            ],
            [
                "vs first come first served",
                f"{run.places_filled:,} places filled vs {run.fcfs_places_filled:,}; "
                f"{run.objective:,.0f} points vs {run.fcfs_objective:,.0f} "
                f"(+{_gain(run.objective, run.fcfs_objective):.1f} %)",
            ],
            [
                "distance",
                f"mean {run.mean_distance_m:,.0f} m, 95th percentile {run.p95_distance_m:,.0f} m",
            ],
            [
                "load",
                f"{run.members_used:,} members given places, at most {run.most_places} "
                f"each, hours spread (sd) {run.hours_stdev:.2f}",
            ],
            [
                "by group",
                ", ".join(f"{g.group} {g.filled}/{g.places}" for g in run.filled_by_group),
            ],
        ]
    story_table = table(["the month", ""], [list(row) for row in story], "story") if story else ""
    scope = esc(d.scope or "all communities")
    made = datetime.now(UTC).astimezone(LOCAL).strftime("%Y-%m-%d %H:%M")
    statuses = Counter(t.status for t in d.tasks)
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<title>邻里 Linli · 月度报告 monthly report</title>
<style>
body {{ font-family: "Noto Sans CJK SC", "PingFang SC", system-ui, sans-serif; margin: 24px;
       color: #222; max-width: 1200px; }}
h1 {{ font-size: 24px; margin-bottom: 0 }} h2 {{ font-size: 18px; margin-top: 32px }}
.muted {{ color: #666 }} .row {{ display: flex; gap: 32px; flex-wrap: wrap }}
table {{ border-collapse: collapse; font-size: 13px; margin: 8px 0 }}
th, td {{ border-bottom: 1px solid #ddd; padding: 4px 8px; text-align: right }}
th:first-child, td:first-child, th:nth-child(2), td:nth-child(2) {{ text-align: left }}
.legend span {{ display: inline-block; margin-right: 16px }}
.dot {{ display: inline-block; width: 10px; height: 10px; border-radius: 5px; margin-right: 4px }}
</style></head><body>
<h1>邻里 Linli — 在职党员进社区服务 月度报告</h1>
<p class="muted">Employed party members serving where they live · {scope} · made {made}
· {len(d.communities)} communities · {sum(len(m) for m in d.members.values()):,} members ·
{len(d.tasks):,} tasks ({statuses.get(tasks_pb2.TASK_STATUS_COMPLETED, 0):,} completed)</p>
{story_table}
<h2>Map 地图</h2>
<p class="legend"><span><i class="dot" style="background:#2e7d32"></i>all places filled</span>
<span><i class="dot" style="background:#f9a825"></i>partly filled</span>
<span><i class="dot" style="background:#c62828"></i>unfilled</span>
<span>● wish · ■ volunteer role · lines: member's home → matched place</span></p>
{draw_map(d)}
<h2>Communities 各社区</h2>
{community_table}
<div class="row"><div>
<h2>Load spread 服务时长分布</h2>
<p class="muted">{len(served):,} members gave hours; the busiest tenth gave
{top_share * 100:.0f} % of them.</p>
{bars(spread, " members")}
</div><div>
<h2>Unfilled and why 未满足原因</h2>
{table(["why", "places"], unfilled_rows, "unfilled")}
</div></div>
{attendance.section(d)}
<h2>The matching run 匹配运行</h2>
{table(["", ""], run_rows, "run")}
{points_section.render(d)}
{ledger_section(d)}
</body></html>"""


def ledger_section(d: Data) -> str:
    """The affairs ledger's figures, when the system has the service."""
    if d.ledger is None:
        return ""
    names = {c.id: c.name for c in d.communities}
    body = table(ledger.HEADERS, ledger.rows(d.ledger, d.streets, names), "ledger")
    return (
        '<h2>The ledger of concerns 诉求台账</h2>\n<p class="muted">Residents\' concerns logged'
        " in the period, as they stand now: small matters stay in the community, big ones go"
        " to the street; satisfied answers of all answers given.</p>\n" + body
    )


def _gain(ours: float, theirs: float) -> float:
    return (ours / theirs - 1) * 100 if theirs else 0.0


def write(path: Path, d: Data, story: Sequence[tuple[str, Any]] = ()) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render(d, story), encoding="utf-8")
    return path
