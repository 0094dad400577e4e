"""Deterministic generator of a synthetic district shaped like the 2018 Jiyang case.

Writes district.yaml (the organisation and units) and members.csv; see docs/district-file.md.
"""

from __future__ import annotations

import argparse
import csv
import io
import math
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict

import yaml

from services.common.settings import Bounds
from services.common.skills import SKILLS as CATALOGUE

# The registry's catalogue, so that generated members only ever declare skills it knows.
SKILLS: tuple[str, ...] = tuple(skill.code for skill in CATALOGUE)
DAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
UNIT_KINDS: tuple[str, ...] = ("government", "enterprise", "institution")
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

DEFAULT_SEED = 2018
FULL_MEMBERS = 4628
SMALL_MEMBERS = 300
NAME_MARK = "测试·"  # every synthetic person's name starts with this
PHONE_PREFIX = "17000"  # virtual-operator block; the member's index fills the last six digits
SCHOOL_ID = "u-chengli-primary"
SCHOOL_TEACHERS = 35
DISTRICT_NAME = "济阳区（合成数据）"
# The bounds the registry checks by default.
BOUNDS: dict[str, float] = Bounds().model_dump()
# The built-up area the communities tile: south, north, west, east.
URBAN: tuple[float, float, float, float] = (36.955, 37.005, 117.135, 117.205)

EARTH_RADIUS_M = 6_371_000.0
# Same sphere as haversine_m, so "inside the circle" means the same thing to generator and checker.
M_PER_DEG_LAT = EARTH_RADIUS_M * math.pi / 180
BUILDING_SPREAD = 0.8  # building groups stand within this fraction of the grid radius
HOME_JITTER_M = 25.0  # homes stand this close to their building; 0.8 r + 25 <= r for r >= 150
MIN_RADIUS_M, MAX_RADIUS_M = 150, 300

_Box = tuple[float, float, float, float]  # south, north, west, east

STREETS: tuple[tuple[str, str], ...] = (("jiyang", "济阳街道"), ("jibei", "济北街道"))


@dataclass(frozen=True)
class _CommunitySpec:
    street: str
    id: str
    name: str
    row: int  # 0 is the northernmost row of the 4 x 4 layout
    col: int  # 0 is the westernmost column


# Jibei (济北, "north of Ji") holds the northern cells, Jiyang the old town and the south.
COMMUNITIES: tuple[_CommunitySpec, ...] = (
    _CommunitySpec("jiyang", "binhu", "滨湖社区", 3, 1),
    _CommunitySpec("jiyang", "yinshan", "银山社区", 2, 2),
    _CommunitySpec("jiyang", "huayang", "华阳社区", 3, 2),
    _CommunitySpec("jiyang", "chengli", "城里社区", 2, 1),
    _CommunitySpec("jiyang", "kaiyuan", "开元社区", 2, 0),
    _CommunitySpec("jiyang", "wenhua", "文化社区", 2, 3),
    _CommunitySpec("jiyang", "xinshi", "新市社区", 1, 3),
    _CommunitySpec("jiyang", "fuyang", "富阳社区", 3, 0),
    _CommunitySpec("jiyang", "anju", "安居社区", 3, 3),
    _CommunitySpec("jibei", "yajuyuan", "雅居园社区", 0, 1),
    _CommunitySpec("jibei", "longhai", "龙海社区", 0, 0),
    _CommunitySpec("jibei", "beiyuan", "北苑社区", 0, 2),
    _CommunitySpec("jibei", "jinxiu", "锦绣社区", 0, 3),
    _CommunitySpec("jibei", "huixin", "汇鑫社区", 1, 0),
    _CommunitySpec("jibei", "yongkang", "永康社区", 1, 1),
    _CommunitySpec("jibei", "chengbo", "澄波社区", 1, 2),
)
LAYOUT_ROWS, LAYOUT_COLS = 4, 4


@dataclass(frozen=True)
class _Sizes:
    communities: tuple[str, ...]
    grids: int
    building_groups: int
    units: dict[str, int]  # per kind; institutions include the Chengli primary school
    members: int


FULL = _Sizes(
    communities=tuple(c.id for c in COMMUNITIES),
    grids=123,
    building_groups=510,
    units={"government": 60, "institution": 54, "enterprise": 34},
    members=FULL_MEMBERS,
)
SMALL = _Sizes(
    communities=("binhu", "yinshan", "huayang", "chengli", "kaiyuan"),
    grids=25,
    building_groups=100,
    units={"government": 12, "institution": 11, "enterprise": 7},
    members=SMALL_MEMBERS,
)

GOVERNMENT_UNITS: tuple[str, ...] = (
    "区委办公室", "区政府办公室", "区委组织部", "区委宣传部", "区委统战部", "区委政法委",
    "区纪委监委机关", "区人大常委会机关", "区政协机关", "区委编办", "区委网信办", "区委老干部局",
    "区委政策研究室", "团区委", "区妇联", "区总工会", "区科协", "区残联", "区工商联", "区文联",
    "区红十字会", "区发展和改革局", "区教育和体育局", "区科学技术局", "区工业和信息化局",
    "区公安分局", "区民政局", "区司法局", "区财政局", "区人力资源和社会保障局", "区自然资源局",
    "区生态环境分局", "区住房和城乡建设局", "区交通运输局", "区水务局", "区农业农村局",
    "区商务局", "区文化和旅游局", "区卫生健康局", "区退役军人事务局", "区应急管理局",
    "区审计局", "区市场监督管理局", "区统计局", "区医疗保障局", "区城市管理局",
    "区综合行政执法局", "区行政审批服务局", "区信访局", "区税务局", "区人民法院",
    "区人民检察院", "区消防救援大队", "区气象局", "区大数据局", "区投资促进局",
    "区供销合作社联合社", "区乡村振兴局", "区粮食和物资储备局", "区国资事务中心",
)  # fmt: skip
INSTITUTION_UNITS: tuple[str, ...] = (
    "区实验中学", "区第一中学", "区第二中学", "区第三中学", "区职业中等专业学校",
    "区特殊教育学校", "城区第一小学", "城区第二小学", "城区第三小学", "城区第四小学",
    "城区第五小学", "区第二实验小学", "区实验幼儿园", "区第二实验幼儿园", "城区第一幼儿园",
    "城区第二幼儿园", "区人民医院", "区中医医院", "区妇幼保健院", "区疾病预防控制中心",
    "区急救站", "济阳街道社区卫生服务中心", "济北街道社区卫生服务中心", "区图书馆",
    "区文化馆", "区博物馆", "区档案馆", "区融媒体中心", "区委党校", "区体育中心",
    "区青少年活动中心", "区老年大学", "区公证处", "区法律援助中心", "区社会福利中心",
    "区不动产登记中心", "区公共资源交易中心", "区政务服务中心", "区社会保险事业中心",
    "区就业服务中心", "区园林绿化服务中心", "区环境卫生服务中心", "区市政工程服务中心",
    "区水利工程服务中心", "区农业技术推广中心", "区畜牧兽医服务中心", "区住房保障服务中心",
    "区供热服务中心", "区应急救援指挥中心", "区科技馆", "区机关事务服务中心",
    "区规划编研中心", "区林业保护发展中心", "区地震监测中心",
)  # fmt: skip
SCHOOL_NAME = "区实验小学"  # the case's 实验小学 whose 35 teacher-members tutor at Chengli
BRAND_FIRST = "鑫恒瑞金宏德嘉永康盛泰丰润源达诚信和兴隆"
BRAND_SECOND = "源泰丰达盛祥通宇辉昌利华安邦远成"
INDUSTRIES: tuple[str, ...] = (
    "建筑工程有限公司", "电力安装有限公司", "供水设备有限公司", "物流有限公司",
    "软件科技有限公司", "餐饮管理有限公司", "会计师事务所有限公司", "律师事务所",
    "医药连锁有限公司", "物业服务有限公司", "客运有限公司", "商贸有限公司", "食品有限公司",
    "化工有限公司", "机械制造有限公司", "纺织有限公司", "房地产开发有限公司", "农业科技有限公司",
)  # fmt: skip

# A unit's line of work makes some skills more likely among its members.
AFFINITIES: tuple[tuple[tuple[str, ...], tuple[str, ...]], ...] = (
    (("小学", "中学", "幼儿园", "学校", "教育", "党校", "老年大学", "青少年"),
     ("tutoring", "reading_guide", "child_care")),
    (("医院", "卫生", "疾病", "保健", "医药", "急救", "红十字"),
     ("medical", "first_aid", "elderly_care")),
    (("法院", "检察院", "司法", "公证", "法律", "律师"), ("legal_advice", "mediation")),
    (("信访", "政法", "妇联", "团区委"), ("mediation", "counseling")),
    (("消防", "应急", "地震"), ("fire_safety", "first_aid")),
    (("财政", "税务", "审计", "会计", "国资"), ("accounting",)),
    (("统计", "规划", "不动产"), ("survey",)),
    (("民政", "福利", "老干部", "退役军人", "残联"), ("elderly_care", "disability_support")),
    (("残联", "特殊教育"), ("sign_language",)),
    (("环境卫生", "城市管理", "综合行政执法", "园林", "生态环境"), ("sanitation",)),
    (("电力", "供电"), ("repair_electrical",)),
    (("水务", "供水", "水利", "供热", "市政"), ("repair_plumbing",)),
    (("住房", "建设", "建筑", "物业", "房地产"), ("repair_general",)),
    (("大数据", "信息化", "软件", "网信", "融媒体", "科技"), ("it_help", "photography")),
    (("宣传", "文化", "图书馆", "博物馆", "文联", "档案"),
     ("reading_guide", "calligraphy", "photography")),
    (("组织部", "统战", "政策研究", "纪委", "人力资源", "就业", "社会保险", "医疗保障"),
     ("policy_outreach",)),
    (("体育",), ("sports_coaching",)),
    (("交通", "物流", "客运"), ("driving", "errands")),
    (("餐饮", "食品"), ("cooking",)),
)  # fmt: skip

# How often each skill turns up when it is not suggested by the member's unit.
SKILL_WEIGHTS: dict[str, int] = {
    "elderly_care": 10, "child_care": 5, "disability_support": 3, "tutoring": 5,
    "reading_guide": 4, "calligraphy": 2, "it_help": 5, "repair_electrical": 3,
    "repair_plumbing": 2, "repair_general": 4, "first_aid": 4, "medical": 2, "legal_advice": 2,
    "counseling": 3, "mediation": 4, "fire_safety": 3, "sanitation": 8, "survey": 6,
    "errands": 10, "driving": 6, "cooking": 4, "photography": 3, "accounting": 2,
    "sports_coaching": 2, "sign_language": 1, "policy_outreach": 8,
}  # fmt: skip

ESTATE_PREFIXES = (
    "锦华", "翠湖", "阳光", "金色", "御景", "银座", "福泽", "和平", "幸福", "书香", "润泽",
    "怡景", "龙腾", "紫荆", "绿洲", "丽景", "泰和", "明珠", "盛世", "鸿福", "康乐", "恒达",
    "瑞祥", "东方", "春晖", "秀水", "南湖", "滨河", "文昌", "建业",
)  # fmt: skip
ESTATE_SUFFIXES = ("苑", "园", "小区", "家园", "花园", "新村")
FAMILY_YARDS = (
    "教育局家属院", "供电家属院", "粮食局家属院", "人民医院家属院", "棉纺厂家属院",
    "交通局家属院", "水利局家属院", "税务家属院", "农机厂家属院", "邮电家属院",
)  # fmt: skip
VILLAGES = ("西关村", "东关村", "南街村", "北街村", "石家庄村", "孙家庄村", "小王庄", "大李庄")
QINGHUAYUAN = "清华园"

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡"
GIVEN_CHARS = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚英华玉兰文建国海红志新林峰晓鹏辉宁欣雪颖博宇"
    "浩然婷琳慧佳凯"
)


class MemberRow(TypedDict):
    """One member as written to members.csv (skills and availability in their CSV spelling)."""

    request_id: str
    name: str
    phone: str
    lat: float
    lng: float
    community_id: str
    grid_id: str
    building_group_id: str
    unit_id: str
    skills: str
    availability: str
    hours_per_month: int


@dataclass
class District:
    """A generated district: the organisation as in district.yaml and the members.csv rows."""

    seed: int
    small: bool
    org: dict[str, Any]
    members: list[MemberRow]


@dataclass
class _BuildingGroup:
    id: str
    name: str
    lat: float
    lng: float


@dataclass
class _Grid:
    id: str
    name: str
    lat: float
    lng: float
    radius_m: int
    building_groups: list[_BuildingGroup] = field(default_factory=list)


@dataclass
class _Community:
    spec: _CommunitySpec
    station: tuple[float, float]
    grids: list[_Grid]


@dataclass
class _Unit:
    id: str
    name: str
    kind: str
    community: str
    affinity: tuple[str, ...]


def haversine_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres between two WGS-84 points."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(math.sqrt(a))


def parse_skills(text: str) -> list[tuple[str, int]]:
    """Split a members.csv `skills` cell into (code, level) pairs."""
    pairs = []
    for item in filter(None, text.split(";")):
        code, level = item.split(":")
        pairs.append((code, int(level)))
    return pairs


def parse_availability(text: str) -> list[tuple[str, int, int]]:
    """Split a members.csv `availability` cell into (day, start_minute, end_minute) triples."""
    windows = []
    for item in filter(None, text.split(";")):
        day, span = item.split(" ")
        start, end = span.split("-")
        windows.append((day, _minutes(start), _minutes(end)))
    return windows


def _minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def _hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def _allocate(total: int, weights: Sequence[float], minimum: int = 0) -> list[int]:
    """Split total into len(weights) whole parts of at least minimum, by largest remainder."""
    rest = total - minimum * len(weights)
    if rest < 0:
        raise ValueError(f"cannot give {len(weights)} parts {minimum} each out of {total}")
    whole = sum(weights)
    quotas = [rest * w / whole for w in weights]
    parts = [int(q) for q in quotas]
    by_remainder = sorted(range(len(weights)), key=lambda i: (parts[i] - quotas[i], i))
    for i in by_remainder[: rest - sum(parts)]:
        parts[i] += 1
    return [minimum + p for p in parts]


def _offset(lat: float, lng: float, north_m: float, east_m: float) -> tuple[float, float]:
    return (
        lat + north_m / M_PER_DEG_LAT,
        lng + east_m / (M_PER_DEG_LAT * math.cos(math.radians(lat))),
    )


def _in_disc(rng: random.Random, radius_m: float) -> tuple[float, float]:
    # sqrt keeps points evenly spread over the disc instead of bunched at the centre.
    r = radius_m * math.sqrt(rng.random())
    theta = rng.uniform(0, 2 * math.pi)
    return r * math.cos(theta), r * math.sin(theta)


def _r6(x: float) -> float:
    return round(x, 6)


def _layout(sizes: _Sizes, grid_counts: dict[str, int]) -> dict[str, _Box]:
    """Give each community a box (south, north, west, east) with area in proportion to its grids.

    Rows share latitude bands; within a row, cells share the band's width, so the boxes tile the
    urban area like bricks. Cells of communities left out (the small district) keep an average
    size so the geography matches the full district's.
    """
    weights = {c: grid_counts[c] + 6.0 for c in sizes.communities}
    mean = sum(weights.values()) / len(weights)
    cell = {(s.row, s.col): weights.get(s.id, mean) for s in COMMUNITIES}
    south, north, west, east = URBAN
    total = sum(cell.values())
    boxes: dict[str, _Box] = {}
    top = north
    for row in range(LAYOUT_ROWS):
        row_weights = [cell[(row, col)] for col in range(LAYOUT_COLS)]
        bottom = top - (north - south) * sum(row_weights) / total
        left = west
        for col, w in enumerate(row_weights):
            right = left + (east - west) * w / sum(row_weights)
            spec = next(s for s in COMMUNITIES if (s.row, s.col) == (row, col))
            if spec.id in weights:
                boxes[spec.id] = (bottom, top, left, right)
            left = right
        top = bottom
    return boxes


def _place_grids(rng: random.Random, spec: _CommunitySpec, box: _Box, n: int) -> list[_Grid]:
    south, north, west, east = box
    mid_lat = (south + north) / 2
    height_m = (north - south) * M_PER_DEG_LAT
    width_m = (east - west) * M_PER_DEG_LAT * math.cos(math.radians(mid_lat))
    cols = max(1, round(math.sqrt(n * width_m / height_m)))
    rows = math.ceil(n / cols)
    # Leftover lattice cells become gaps (a park, a school, a market), chosen at random.
    cells = sorted(rng.sample([(r, c) for r in range(rows) for c in range(cols)], n))
    cell_h, cell_w = height_m / rows, width_m / cols
    short = spec.name.removesuffix("社区")
    grids = []
    for k, (r, c) in enumerate(cells, start=1):
        north_m = -(r + 0.5) * cell_h + rng.uniform(-0.12, 0.12) * cell_h
        east_m = (c + 0.5) * cell_w + rng.uniform(-0.12, 0.12) * cell_w
        lat, lng = _offset(north, west, north_m, east_m)
        radius = 0.5 * min(cell_h, cell_w) * rng.uniform(0.9, 1.15)
        radius_m = int(round(min(max(radius, MIN_RADIUS_M), MAX_RADIUS_M), -1))
        grids.append(
            _Grid(f"{spec.id}-g{k:02d}", f"{short}第{k}网格", _r6(lat), _r6(lng), radius_m)
        )
    return grids


def _estate_pool(rng: random.Random) -> list[tuple[str, str]]:
    """Compound names with their numbering style ("号楼" for buildings, "号院" for yards)."""
    estates = [p + s for p in ESTATE_PREFIXES for s in ESTATE_SUFFIXES]
    rng.shuffle(estates)
    pool = [(name, "号院" if rng.random() < 0.25 else "号楼") for name in estates[:90]]
    pool += [(name, "号楼") for name in FAMILY_YARDS]
    pool += [(name, "号院") for name in VILLAGES]
    rng.shuffle(pool)
    return pool


def _name_building_groups(
    rng: random.Random,
    community: _Community,
    counts: list[int],
    pool: list[tuple[str, str]],
) -> None:
    """Name and place each grid's building groups.

    A compound often spans neighbouring grids, so its numbering carries on; buildings outside any
    named compound are numbered across the community. In Chengli the first two grids are the
    清华园 compound the case mentions.
    """
    plain_next = 1
    compound: tuple[str, str] | None = None  # (name, "号楼" or "号院")
    number = 1  # the compound's next building number
    for k, (grid, n) in enumerate(zip(community.grids, counts, strict=True)):
        if community.spec.id == "chengli" and k < 2:
            if compound is None or compound[0] != QINGHUAYUAN:
                compound, number = (QINGHUAYUAN, "号院"), 1
        elif compound is not None and compound[0] != QINGHUAYUAN and rng.random() < 0.3:
            pass  # the compound carries on into this grid
        elif rng.random() < 0.25 or not pool:
            compound = None
        else:
            compound, number = pool.pop(), 1
        for b in range(1, n + 1):
            if compound is None:
                label = f"{plain_next}号楼"
                plain_next += 1
            else:
                label = f"{compound[0]}{number}{compound[1]}"
                number += 1
            north_m, east_m = _in_disc(rng, BUILDING_SPREAD * grid.radius_m)
            lat, lng = _offset(grid.lat, grid.lng, north_m, east_m)
            grid.building_groups.append(
                _BuildingGroup(f"{grid.id}-b{b:02d}", label, _r6(lat), _r6(lng))
            )


def _build_communities(rng: random.Random, sizes: _Sizes) -> list[_Community]:
    specs = [s for s in COMMUNITIES if s.id in sizes.communities]
    grid_counts = _allocate(sizes.grids, [rng.uniform(0.6, 1.6) for _ in specs], minimum=4)
    boxes = _layout(sizes, {s.id: n for s, n in zip(specs, grid_counts, strict=True)})
    communities = []
    for spec, n in zip(specs, grid_counts, strict=True):
        box = boxes[spec.id]
        grids = _place_grids(rng, spec, box, n)
        centre = ((box[0] + box[1]) / 2, (box[2] + box[3]) / 2)
        # The station stands beside the grid nearest the middle of the community.
        hub = min(grids, key=lambda g: haversine_m(g.lat, g.lng, *centre))
        north_m, east_m = _in_disc(rng, 80.0)
        station = _offset(hub.lat, hub.lng, north_m, east_m)
        communities.append(_Community(spec, (_r6(station[0]), _r6(station[1])), grids))
    all_grids = [g for c in communities for g in c.grids]
    bg_counts = _allocate(
        sizes.building_groups, [rng.uniform(0.3, 1.7) for _ in all_grids], minimum=1
    )
    pool = _estate_pool(rng)
    start = 0
    for community in communities:
        n = len(community.grids)
        _name_building_groups(rng, community, bg_counts[start : start + n], pool)
        start += n
    return communities


def _affinity(name: str) -> tuple[str, ...]:
    skills: list[str] = []
    for keywords, codes in AFFINITIES:
        if any(k in name for k in keywords):
            skills += [c for c in codes if c not in skills]
    return tuple(skills)


def _build_units(rng: random.Random, sizes: _Sizes, communities: list[_Community]) -> list[_Unit]:
    government = rng.sample(GOVERNMENT_UNITS, sizes.units["government"])
    institution = rng.sample(INSTITUTION_UNITS, sizes.units["institution"] - 1)
    enterprise: list[str] = []
    while len(enterprise) < sizes.units["enterprise"]:
        brand = rng.choice(BRAND_FIRST) + rng.choice(BRAND_SECOND)
        name = brand + rng.choice(INDUSTRIES)
        if brand[0] != brand[1] and name not in enterprise:
            enterprise.append(name)
    numbered = (
        [(n, "government") for n in government]
        + [(n, "institution") for n in institution]
        + [(n, "enterprise") for n in enterprise]
    )
    total = len(numbered) + 1
    # Each community pairs with several units, more for larger communities.
    per_community = _allocate(total, [len(c.grids) + 4.0 for c in communities], minimum=1)
    slots = [
        c.spec.id
        for c, n in zip(communities, per_community, strict=True)
        for _ in range(n - (c.spec.id == "chengli"))
    ]
    rng.shuffle(slots)
    units = [_Unit(SCHOOL_ID, SCHOOL_NAME, "institution", "chengli", _affinity(SCHOOL_NAME))]
    for i, ((name, kind), community) in enumerate(zip(numbered, slots, strict=True), start=1):
        units.append(_Unit(f"u{i:03d}", name, kind, community, _affinity(name)))
    return units


def _person_name(rng: random.Random) -> str:
    given_len = 1 if rng.random() < 0.4 else 2
    return NAME_MARK + rng.choice(SURNAMES) + "".join(rng.choices(GIVEN_CHARS, k=given_len))


def _skills(rng: random.Random, unit: _Unit, teacher: bool) -> str:
    chosen: dict[str, int] = {}
    if teacher:
        chosen["tutoring"] = 3
        count = rng.choices((1, 2, 3, 4), weights=(30, 40, 20, 10))[0]
    else:
        count = rng.choices((0, 1, 2, 3, 4), weights=(8, 27, 32, 22, 11))[0]
    codes, weights = list(SKILL_WEIGHTS), list(SKILL_WEIGHTS.values())
    while len(chosen) < count:
        fresh = [a for a in unit.affinity if a not in chosen]
        if fresh and rng.random() < 0.5:
            # Skills from one's job tend to be practised ones.
            chosen[rng.choice(fresh)] = rng.choices((1, 2, 3), weights=(2, 4, 4))[0]
        else:
            code = rng.choices(codes, weights=weights)[0]
            if code not in chosen:
                chosen[code] = rng.choices((1, 2, 3), weights=(5, 3, 1))[0]
    return ";".join(f"{code}:{chosen[code]}" for code in SKILLS if code in chosen)


def _availability(rng: random.Random, teacher: bool) -> str:
    """Weekly windows of an employed person: evenings, weekends, now and then a lunch break."""
    if not teacher and rng.random() < 0.05:
        return ""
    windows: list[tuple[int, int, int]] = []
    if teacher:
        # School ends before the 4:30 school starts, so teachers can tutor straight after class.
        for day in rng.sample(range(5), rng.choice((2, 3, 3, 4))):
            windows.append((day, 16 * 60 + 30, 18 * 60 + 30))
    elif rng.random() < 0.75:
        start = rng.choice((18 * 60, 18 * 60 + 30, 19 * 60, 19 * 60 + 30))
        end = min(start + rng.choice((90, 120, 150, 180)), 22 * 60)
        for day in rng.sample(range(5), rng.choice((1, 2, 2, 3, 3, 4))):
            windows.append((day, start, end))
    # Without weekday evenings a member who wants to serve has the weekend.
    if rng.random() < (0.4 if teacher else 0.6) or not windows:
        days = rng.choices(((5,), (6,), (5, 6)), weights=(4, 3, 3))[0]
        start, end = rng.choice(
            ((480, 720), (510, 690), (540, 720), (840, 1020), (870, 1080), (540, 1020))
        )
        windows += [(day, start, end) for day in days]
    if not teacher and rng.random() < 0.15:
        span = rng.choice(((720, 780), (720, 810)))
        windows += [(day, *span) for day in rng.sample(range(5), rng.choice((1, 2)))]
    if not teacher and rng.random() < 0.03:
        windows.append((rng.choice((4, 5)), 20 * 60, 24 * 60))
    return ";".join(f"{DAYS[d]} {_hhmm(s)}-{_hhmm(e)}" for d, s, e in _merge(windows))


def _merge(windows: list[tuple[int, int, int]]) -> list[tuple[int, int, int]]:
    merged: list[tuple[int, int, int]] = []
    for day, start, end in sorted(windows):
        if merged and merged[-1][0] == day and start <= merged[-1][2]:
            merged[-1] = (day, merged[-1][1], max(merged[-1][2], end))
        else:
            merged.append((day, start, end))
    return merged


def _hours(rng: random.Random, availability: str, teacher: bool) -> int:
    if not availability:
        return 0
    if teacher:
        return rng.randint(8, 20)
    r = rng.random()
    if r < 0.05:
        return rng.randint(1, 3)
    if r < 0.85:
        return rng.randint(4, 20)
    if r < 0.97:
        return rng.randint(21, 40)
    return min(200, 41 + int(rng.expovariate(1 / 30)))


def _build_members(
    rng: random.Random,
    seed: int,
    count: int,
    communities: list[_Community],
    units: list[_Unit],
) -> list[MemberRow]:
    if count > 999_999:
        raise ValueError("at most 999,999 members: the phone scheme has six digits for them")
    per_community = _allocate(count, [len(c.grids) * rng.uniform(0.85, 1.15) for c in communities])
    # A slot is (community, grid, building group), sorted so the file reads place by place.
    slots: list[tuple[_Community, _Grid, _BuildingGroup]] = []
    for community, n in zip(communities, per_community, strict=True):
        grids = community.grids
        picks = rng.choices(range(len(grids)), [len(g.building_groups) for g in grids], k=n)
        for gi, bi in sorted((g, rng.randrange(len(grids[g].building_groups))) for g in picks):
            slots.append((community, grids[gi], grids[gi].building_groups[bi]))
    teachers = _pick_teachers(rng, slots, communities, min(SCHOOL_TEACHERS, count))

    school = next(u for u in units if u.id == SCHOOL_ID)
    others = [u for u in units if u.id != SCHOOL_ID]
    # Government offices and institutions employ more party members than small firms.
    kind_weight = {"government": 1.0, "institution": 1.2, "enterprise": 0.7}
    own: dict[str, list[_Unit]] = {c.spec.id: [] for c in communities}
    for u in others:
        own[u.community].append(u)
    elsewhere = {cid: [u for u in others if u.community != cid] for cid in own}
    elsewhere_weights = {cid: [kind_weight[u.kind] for u in us] for cid, us in elsewhere.items()}

    rows: list[MemberRow] = []
    for index, (community, grid, bg) in enumerate(slots, start=1):
        cid = community.spec.id
        teacher = index - 1 in teachers
        if teacher:
            unit = school
        elif own[cid] and rng.random() < 0.5:
            unit = rng.choice(own[cid])
        else:
            unit = rng.choices(elsewhere[cid], elsewhere_weights[cid])[0]
        north_m, east_m = _in_disc(rng, HOME_JITTER_M)
        lat, lng = _offset(bg.lat, bg.lng, north_m, east_m)
        availability = _availability(rng, teacher)
        rows.append(
            MemberRow(
                request_id=f"seed-{seed}-m{index:05d}",
                name=_person_name(rng),
                phone=f"{PHONE_PREFIX}{index:06d}",
                lat=_r6(lat),
                lng=_r6(lng),
                community_id=cid,
                grid_id=grid.id,
                building_group_id=bg.id,
                unit_id=unit.id,
                skills=_skills(rng, unit, teacher),
                availability=availability,
                hours_per_month=_hours(rng, availability, teacher),
            )
        )
    return rows


def _pick_teachers(
    rng: random.Random,
    slots: list[tuple[_Community, _Grid, _BuildingGroup]],
    communities: list[_Community],
    n: int,
) -> set[int]:
    """Slot indexes of the school's teachers: most live in Chengli, the rest next door."""
    chengli = next(c for c in communities if c.spec.id == "chengli")
    here = chengli.station
    neighbours = sorted(
        (c for c in communities if c is not chengli),
        key=lambda c: haversine_m(c.station[0], c.station[1], here[0], here[1]),
    )[:2]
    near_ids = {c.spec.id for c in neighbours}
    in_chengli = [i for i, s in enumerate(slots) if s[0] is chengli]
    nearby = [i for i, s in enumerate(slots) if s[0].spec.id in near_ids]
    rng.shuffle(in_chengli)
    rng.shuffle(nearby)
    want_near = round(n * 0.2)
    chosen = in_chengli[: n - want_near]
    chosen += nearby[: n - len(chosen)]
    # Only a tiny district runs out of both; then anyone will do.
    taken = set(chosen)
    chosen += [i for i in range(len(slots)) if i not in taken][: n - len(chosen)]
    return set(chosen)


def _org(communities: list[_Community], units: list[_Unit]) -> dict[str, Any]:
    streets = []
    for street_id, street_name in STREETS:
        members = [c for c in communities if c.spec.street == street_id]
        if not members:
            continue
        streets.append(
            {
                "id": street_id,
                "name": street_name,
                "communities": [_community_dict(c) for c in members],
            }
        )
    return {
        "district": {"name": DISTRICT_NAME, "bounds": dict(BOUNDS)},
        "streets": streets,
        "units": [
            {"id": u.id, "name": u.name, "kind": u.kind, "community": u.community} for u in units
        ],
    }


def _community_dict(c: _Community) -> dict[str, Any]:
    return {
        "id": c.spec.id,
        "name": c.spec.name,
        "station": {"lat": c.station[0], "lng": c.station[1]},
        "grids": [
            {
                "id": g.id,
                "name": g.name,
                "center": {"lat": g.lat, "lng": g.lng},
                "radius_m": g.radius_m,
                "building_groups": [
                    {"id": b.id, "name": b.name, "location": {"lat": b.lat, "lng": b.lng}}
                    for b in g.building_groups
                ],
            }
            for g in c.grids
        ],
    }


def generate(seed: int = DEFAULT_SEED, members: int | None = None, small: bool = False) -> District:
    """Generate a district: the same arguments always give the same data.

    members defaults to the case's 4,628, or 300 when small.
    """
    sizes = SMALL if small else FULL
    count = sizes.members if members is None else members
    if count < 0:
        raise ValueError("members must not be negative")
    # Separate streams, so changing the member count leaves the organisation as it was.
    kind = "small" if small else "full"
    communities = _build_communities(random.Random(f"{seed}/{kind}/places"), sizes)
    units = _build_units(random.Random(f"{seed}/{kind}/units"), sizes, communities)
    rows = _build_members(random.Random(f"{seed}/{kind}/members"), seed, count, communities, units)
    return District(seed=seed, small=small, org=_org(communities, units), members=rows)


def counts(district: District) -> dict[str, int]:
    """How many of each kind of entry the district holds."""
    communities = [c for s in district.org["streets"] for c in s["communities"]]
    grids = [g for c in communities for g in c["grids"]]
    return {
        "streets": len(district.org["streets"]),
        "communities": len(communities),
        "grids": len(grids),
        "building_groups": sum(len(g["building_groups"]) for g in grids),
        "units": len(district.org["units"]),
        "members": len(district.members),
    }


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


def _org_summary(c: dict[str, int]) -> str:
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
        f"# {_org_summary(c)};\n"
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
    print(f"{yaml_path}: {_org_summary(c)}")
    print(f"{csv_path}: members {c['members']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
