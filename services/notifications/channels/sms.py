"""Items by SMS: the template of the item's kind (services/common/sms NOTICES) with the item's
words, to the phone the registry holds for the member."""

from __future__ import annotations

from services.common.sms import NOTICES, SmsError, SmsSender
from services.common.sms.build import ClosableSms
from services.common.sms.config import SmsSettings
from services.common.sms.port import RETRYABLE, SmsRateLimited
from services.notifications.domain.world import SMS
from services.notifications.store import Job, Outcome

# Worth another attempt later: the provider away, or its limit for this number for now.
LATER: tuple[type[SmsError], ...] = (*RETRYABLE, SmsRateLimited)
# What one template parameter holds at most (providers cap a variable's length).
DETAIL_MAX = 60


class SmsChannel:
    name = SMS

    def __init__(self, sender: SmsSender | ClosableSms, settings: SmsSettings) -> None:
        self.sender = sender
        self.settings = settings

    def _approved(self, template_name: str) -> bool:
        # The `log` provider sends anything; a real one only the templates mapped to its ids.
        return self.settings.provider == "log" or bool(self.settings.templates.get(template_name))

    async def send(self, job: Job) -> tuple[Outcome, str]:
        template = NOTICES.get(job.item.kind.value)
        if template is None or not self._approved(template.name):
            return Outcome.DROPPED, f"no SMS template for {job.item.kind.value}"
        if not job.phone:
            return Outcome.DROPPED, "no phone for the member"
        detail = job.item.body[:DETAIL_MAX]
        try:
            await self.sender.send(job.phone, template, {"detail": detail})
        except LATER as e:
            return Outcome.RETRY, f"{type(e).__name__} {e.code}"
        except SmsError as e:
            return Outcome.DROPPED, f"{type(e).__name__} {e.code}"
        return Outcome.SENT, ""

    async def aclose(self) -> None:
        close = getattr(self.sender, "aclose", None)
        if close is not None:
            await close()
