"""The report's points section: per community, earned, redeemed, held and the members holding
points; nothing when the points service gave nothing."""

from __future__ import annotations

from linli.v1 import points_pb2, registry_pb2
from services.report import points as section
from services.report.data import Data
from services.report.render import render


def test_the_section_shows_each_communitys_points() -> None:
    d = Data(communities=[registry_pb2.Community(id="binhu", name="滨湖社区")])
    d.points = [
        points_pb2.GetCommunityPointsResponse(
            community_id="binhu",
            issued=123450,
            redeemed=2000,
            outstanding=121450,
            members_with_points=17,
        )
    ]
    html = section.render(d)
    assert "Points 积分" in html and "滨湖社区" in html
    for shown in ("1,234.50", "20.00", "1,214.50", "17"):
        assert shown in html
    assert html in render(d)


def test_no_points_no_section() -> None:
    assert section.render(Data()) == ""
