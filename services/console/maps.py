"""Maps that need no internet: the district's communities, grids and task places drawn as SVG
from the district's own data (the registry's organisation, the task service's places), zoomed
and panned by static/console.js. Members' homes are never drawn."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape

from linli.v1 import registry_pb2
from services.report.render import Frame


@dataclass(frozen=True)
class Place:
    """A task's place on the map, in the state the page colours it by."""

    task_id: str
    title: str
    latitude: float
    longitude: float
    css: str  # open, filled, unfilled, done, picked ...
    approximate: bool = False


def draw(
    communities: Sequence[registry_pb2.Community],
    grids: Sequence[registry_pb2.Grid],
    places: Iterable[Place],
    *,
    label: str,
    pick: bool = False,
    links: bool = True,
) -> Markup:
    """An SVG map (with its zoom buttons) of the given communities, grids and places; `pick`
    lets a click choose a place (the form's latitude and longitude follow)."""
    places = list(places)
    points = (
        [(c.station.latitude, c.station.longitude) for c in communities if c.HasField("station")]
        + [(g.center.latitude, g.center.longitude) for g in grids if g.HasField("center")]
        + [(p.latitude, p.longitude) for p in places]
    )
    if not points:
        return Markup("")
    # Some room around the outermost grid circles.
    spread = 0.004
    low = (min(p[0] for p in points) - spread, min(p[1] for p in points) - spread)
    high = (max(p[0] for p in points) + spread, max(p[1] for p in points) + spread)
    frame = Frame([*points, low, high], width=900)
    # A map whose places are links is a group of links (axe: no controls inside an image).
    role = "group" if links and any(p.task_id for p in places) else "img"
    out = [
        f'<figure class="map-box"><div class="map-tools" hidden>'
        f'<button type="button" data-zoom="in" aria-label="+">+</button>'
        f'<button type="button" data-zoom="out" aria-label="-">−</button>'
        f'<button type="button" data-zoom="reset" aria-label="1:1">⟲</button></div>'
        f'<svg class="map{" pick" if pick else ""}" role="{role}" aria-label="{escape(label)}" '
        f'viewBox="0 0 {frame.width} {frame.height}" '
        f'data-lat1="{frame.lat1}" data-lng0="{frame.lng0}" data-k="{frame.k}" '
        f'data-scale="{frame.scale}" data-pad="{frame.pad}" xmlns="http://www.w3.org/2000/svg">'
        f'<rect class="sea" x="0" y="0" width="{frame.width}" height="{frame.height}"/>'
    ]
    for g in grids:
        if not g.HasField("center"):
            continue
        x, y = frame.xy(g.center.latitude, g.center.longitude)
        r = max(frame.metres(g.radius_m or 300), 4)
        out.append(
            f'<circle class="grid" cx="{x:.1f}" cy="{y:.1f}" r="{r:.1f}">'
            f"<title>{escape(g.name)}</title></circle>"
        )
    for c in communities:
        if not c.HasField("station"):
            continue
        x, y = frame.xy(c.station.latitude, c.station.longitude)
        out.append(
            f'<rect class="station" x="{x - 6:.1f}" y="{y - 6:.1f}" width="12" height="12">'
            f"<title>{escape(c.name)}</title></rect>"
            f'<text class="name" x="{x + 9:.1f}" y="{y + 4:.1f}">{escape(c.name)}</text>'
        )
    for p in places:
        x, y = frame.xy(p.latitude, p.longitude)
        dot = (
            f'<circle class="place {p.css}" cx="{x:.1f}" cy="{y:.1f}" r="7">'
            f"<title>{escape(p.title)}</title></circle>"
        )
        if links and p.task_id:
            dot = f'<a href="/tasks/{escape(p.task_id)}" aria-label="{escape(p.title)}">{dot}</a>'
        out.append(dot)
    if pick:
        out.append('<circle id="picked" class="place picked" cx="-50" cy="-50" r="8"/>')
    out.append("</svg></figure>")
    return Markup("".join(out))
