"""Text messages to phones through an SMS provider's template API: the port every service sends
through, the templates Linli uses, the errors a provider's answer becomes, and the settings."""

from services.common.sms.config import SmsSettings
from services.common.sms.port import (
    NOTICES,
    PHONE_CHANGE_CODE,
    PHONE_TAKEN_NOTICE,
    SIGN_IN_CODE,
    TEMPLATES,
    SmsAuthFailed,
    SmsBadNumber,
    SmsError,
    SmsRateLimited,
    SmsSender,
    SmsTemplateRejected,
    SmsUnavailable,
    Template,
    masked,
    told,
)

__all__ = [
    "NOTICES",
    "PHONE_CHANGE_CODE",
    "PHONE_TAKEN_NOTICE",
    "SIGN_IN_CODE",
    "TEMPLATES",
    "SmsAuthFailed",
    "SmsBadNumber",
    "SmsError",
    "SmsRateLimited",
    "SmsSender",
    "SmsSettings",
    "SmsTemplateRejected",
    "SmsUnavailable",
    "Template",
    "masked",
    "told",
]
