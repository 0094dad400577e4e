"""The words of every item, in Chinese, in one place: a title and a body per kind, filled with
the facts an event brings (the task's title and time, a reason, minutes, points)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from services.common.values import LOCAL_TZ
from services.notifications.domain.items import Kind

# {placeholders} are filled by `text`; a fact an event lacks is left empty. {where} names the
# task's exact place only for those entitled to it (notices.task_facts).
TEXTS: dict[Kind, tuple[str, str]] = {
    Kind.PROPOSED: (
        "新的服务邀请",
        "为您推荐了「{task}」（{start}），请在 {answer_by} 前接受或婉拒。",
    ),
    Kind.REOFFERED: ("空出的名额请您参加", "「{task}」（{start}）空出了名额，优先邀请您参加。"),
    Kind.ACCEPTED: ("报名成功", "您已确定参加「{task}」（{start}）{where}。"),
    Kind.TASK_CHANGED: (
        "服务有变动",
        "「{task}」有变动：{reason}。现在时间：{start}{where}。",
    ),
    Kind.TASK_CANCELLED: ("服务已取消", "「{task}」（{start}）已取消：{reason}。"),
    Kind.REMINDER: ("服务提醒", "别忘了「{task}」：{start}{where}。"),
    Kind.PLEASE_CONFIRM: (
        "请确认能否参加",
        "「{task}」（{start}）即将开始，请在 {answer_by} 前确认参加，或释放名额给其他党员。",
    ),
    Kind.HOURS_CONFIRMED: ("服务时长已确认", "「{task}」的服务时长已确认：{hours}。"),
    Kind.POINTS_EARNED: ("获得积分", "{reason}：获得 {points} 分，当前积分 {balance} 分。"),
    Kind.CERTIFICATE_EXPIRING: (
        "证书即将到期",
        "{who}的「{skill}」证书将于 {expire} 到期，请及时更新。",
    ),
    Kind.PLACE_RELEASED_MOVED: (
        "名额已释放",
        "因您已转到其他社区报到，「{task}」（{start}）的名额已为您释放。",
    ),
    Kind.PLACE_LEFT_EMPTY: (
        "服务名额空缺",
        "「{task}」（{start}）临近开始，仍有 {empty} 个名额空缺。",
    ),
    Kind.PLACE_RELEASED: ("党员释放了名额", "{who}释放了「{task}」（{start}）的名额：{reason}。"),
    Kind.REPORT_IN_TO_VERIFY: ("新的报到待审核", "{who}申请到本社区报到，请审核。"),
    Kind.CONFIRMATION_OVERDUE: (
        "党员未按时确认",
        "{who}未按时确认是否参加「{task}」（{start}），名额仍为其保留，请联系确认。",
    ),
    Kind.HOURS_REQUESTED: ("服务时长待审批", "{who}申请「{task}」的服务时长 {hours}，请审批。"),
    Kind.DIGEST: ("消息汇总", "您有 {count} 条新消息：{summary}。"),
}

# A kind's short name in a digest's summary.
SHORT: dict[Kind, str] = {
    Kind.PROPOSED: "服务邀请",
    Kind.REOFFERED: "空出名额邀请",
    Kind.ACCEPTED: "报名成功",
    Kind.TASK_CHANGED: "服务变动",
    Kind.TASK_CANCELLED: "服务取消",
    Kind.REMINDER: "服务提醒",
    Kind.PLEASE_CONFIRM: "待确认",
    Kind.HOURS_CONFIRMED: "时长确认",
    Kind.POINTS_EARNED: "积分",
    Kind.CERTIFICATE_EXPIRING: "证书到期",
    Kind.PLACE_RELEASED_MOVED: "名额释放",
}


def when(t: datetime | None) -> str:
    """A time as people in the district read it: local, to the minute."""
    return t.astimezone(LOCAL_TZ).strftime("%m月%d日 %H:%M") if t is not None else ""


def hours(minutes: int) -> str:
    h, m = divmod(max(0, minutes), 60)
    return f"{h}小时{m}分钟" if m else f"{h}小时"


def points(hundredths: int) -> str:
    return f"{hundredths / 100:g}"


class _Lenient(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def text(kind: Kind, facts: Mapping[str, str]) -> tuple[str, str]:
    """The title and body of an item of `kind` with these facts."""
    title, body = TEXTS[kind]
    return title, body.format_map(_Lenient(facts))


def summary(kinds: Mapping[Kind, int]) -> str:
    """A digest's summary: each kind held, with its count, in a stable order."""
    return "，".join(f"{SHORT.get(k, k.value)} {n} 条" for k, n in sorted(kinds.items()))
