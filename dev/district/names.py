"""The made-up names of the synthetic district: its streets and communities, units, compounds and
people, and the skills a unit's line of work makes likely among its members."""

from __future__ import annotations

from dataclasses import dataclass

DISTRICT_NAME = "济阳区（合成数据）"
STREETS: tuple[tuple[str, str], ...] = (("jiyang", "济阳街道"), ("jibei", "济北街道"))


@dataclass(frozen=True)
class CommunitySpec:
    street: str
    id: str
    name: str
    row: int  # 0 is the northernmost row of the 4 x 4 layout
    col: int  # 0 is the westernmost column


# Jibei (济北, "north of Ji") holds the northern cells, Jiyang the old town and the south.
COMMUNITIES: tuple[CommunitySpec, ...] = (
    CommunitySpec("jiyang", "binhu", "滨湖社区", 3, 1),
    CommunitySpec("jiyang", "yinshan", "银山社区", 2, 2),
    CommunitySpec("jiyang", "huayang", "华阳社区", 3, 2),
    CommunitySpec("jiyang", "chengli", "城里社区", 2, 1),
    CommunitySpec("jiyang", "kaiyuan", "开元社区", 2, 0),
    CommunitySpec("jiyang", "wenhua", "文化社区", 2, 3),
    CommunitySpec("jiyang", "xinshi", "新市社区", 1, 3),
    CommunitySpec("jiyang", "fuyang", "富阳社区", 3, 0),
    CommunitySpec("jiyang", "anju", "安居社区", 3, 3),
    CommunitySpec("jibei", "yajuyuan", "雅居园社区", 0, 1),
    CommunitySpec("jibei", "longhai", "龙海社区", 0, 0),
    CommunitySpec("jibei", "beiyuan", "北苑社区", 0, 2),
    CommunitySpec("jibei", "jinxiu", "锦绣社区", 0, 3),
    CommunitySpec("jibei", "huixin", "汇鑫社区", 1, 0),
    CommunitySpec("jibei", "yongkang", "永康社区", 1, 1),
    CommunitySpec("jibei", "chengbo", "澄波社区", 1, 2),
)
LAYOUT_ROWS, LAYOUT_COLS = 4, 4


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
