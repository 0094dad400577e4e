"""`linli points`: amounts as typed become hundredths of a point, and bad ones name the flag."""

from __future__ import annotations

import click
import pytest

from services.cli.main import parse_only
from services.cli.points import hundredths, points_text


@pytest.mark.parametrize(("typed", "expected"), [("20", 2000), ("12.5", 1250), ("0.05", 5)])
def test_points_as_typed_are_hundredths(typed: str, expected: int) -> None:
    assert hundredths(typed) == expected
    assert points_text(expected) == f"{expected / 100:.2f}"


@pytest.mark.parametrize("typed", ["1.234", "-3", "abc", "", "1e3"])
def test_a_bad_amount_is_refused(typed: str) -> None:
    with pytest.raises(click.BadParameter):
        hundredths(typed)


def test_the_points_commands_parse() -> None:
    assert parse_only(["points", "balance", "m-1"]) == ["points", "balance"]
    assert parse_only(["points", "redeem", "m-1", "--points", "5", "--item", "茶叶"]) == [
        "points",
        "redeem",
    ]
