"""The skill catalogue: the shared vocabulary members declare skills from and tasks ask for.

The registry serves it (ListSkills); every service validates against it. Codes are stable: stored
records and events refer to them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Skill:
    code: str
    name_zh: str
    name_en: str
    category: str
    # A member's claim of it counts only with a certificate staff have verified: a wrong claim
    # would put an untrained person beside a sick or frail resident, or behind a wheel.
    requires_proof: bool = False


SKILLS: tuple[Skill, ...] = (
    Skill("elderly_care", "助老服务", "Elderly care", "care"),
    Skill("child_care", "儿童看护", "Child care", "care"),
    Skill("disability_support", "助残服务", "Disability support", "care"),
    Skill("tutoring", "课业辅导", "Tutoring", "education"),
    Skill("reading_guide", "阅读指导", "Reading guide", "education"),
    Skill("calligraphy", "书法", "Calligraphy", "education"),
    Skill("it_help", "电脑手机帮助", "Computer and phone help", "education"),
    Skill("repair_electrical", "电器维修", "Electrical repair", "repair", requires_proof=True),
    Skill("repair_plumbing", "水暖维修", "Plumbing repair", "repair"),
    Skill("repair_general", "日常维修", "General repair", "repair"),
    Skill("first_aid", "急救", "First aid", "health", requires_proof=True),
    Skill("medical", "医疗保健", "Medical care", "health", requires_proof=True),
    Skill("legal_advice", "法律咨询", "Legal advice", "advice", requires_proof=True),
    Skill("counseling", "心理疏导", "Counselling", "advice", requires_proof=True),
    Skill("mediation", "矛盾调解", "Mediation", "advice"),
    Skill("fire_safety", "消防安全", "Fire safety", "safety"),
    Skill("sanitation", "环境卫生", "Sanitation", "environment"),
    Skill("survey", "入户调查", "Resident survey", "outreach"),
    Skill("errands", "代买代办", "Errands", "care"),
    Skill("driving", "驾驶接送", "Driving", "care", requires_proof=True),
    Skill("cooking", "烹饪", "Cooking", "care"),
    Skill("photography", "摄影", "Photography", "culture"),
    Skill("accounting", "财务记账", "Accounting", "advice"),
    Skill("sports_coaching", "健身指导", "Sports coaching", "culture"),
    Skill("sign_language", "手语", "Sign language", "care"),
    Skill("policy_outreach", "政策宣讲", "Policy outreach", "outreach"),
)
SKILL_CODES = frozenset(s.code for s in SKILLS)
PROOF_SKILLS = frozenset(s.code for s in SKILLS if s.requires_proof)
