"""The points rules (积分): how confirmed hours become points, and what happens at the year's end.
Amounts are in hundredths of a point, as the ledger keeps them."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, field_validator

# The categories of activity the task service names in HoursConfirmed.category: the task's
# beneficiary group in lower case.
POINTS_CATEGORIES = ("elderly", "child", "disabled", "poor", "sick", "community")


def _known(values: dict[str, int]) -> dict[str, int]:
    unknown = sorted(set(values) - set(POINTS_CATEGORIES))
    if unknown:
        raise ValueError(f"unknown categories {unknown}; known: {list(POINTS_CATEGORIES)}")
    return values


class PointsRules(BaseModel):
    """LINLI_POINTS__*: e.g. LINLI_POINTS__PER_HOUR=100, LINLI_POINTS__YEARLY_CAP='{"elderly":
    30000}', LINLI_POINTS__YEAR_END=reset."""

    # Hundredths of a point an hour (100: one point an hour).
    per_hour: int = Field(100, ge=0, le=100_000)
    # Per category, instead of per_hour.
    per_hour_by_category: dict[str, int] = Field(default_factory=dict)
    # The most a member earns in one category in one local year, in hundredths of a point.
    yearly_cap: int = Field(150_00, ge=0)
    # Per category, instead of yearly_cap.
    yearly_cap_by_category: dict[str, int] = Field(default_factory=dict)
    # Extra points, in percent, for a place that was hard to fill (taken late, from the standby
    # list, or by a re-offer).
    hard_to_fill_bonus_percent: int = Field(50, ge=0, le=500)
    # At the start of each local year: keep the balances, or take them back (RESET movements).
    year_end: Literal["carry_over", "reset"] = "carry_over"

    @field_validator("per_hour_by_category", "yearly_cap_by_category")
    @classmethod
    def _by_known_category(cls, v: dict[str, int]) -> dict[str, int]:
        if any(n < 0 for n in v.values()):
            raise ValueError("amounts must not be negative")
        return _known(v)

    def rate(self, category: str) -> int:
        return self.per_hour_by_category.get(category, self.per_hour)

    def cap(self, category: str) -> int:
        return self.yearly_cap_by_category.get(category, self.yearly_cap)
