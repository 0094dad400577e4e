"""Local HTTP servers that speak the SMS providers' APIs: they check each request's signature as
the provider does, keep the messages, and answer with the provider's own error shapes."""

from dev.sms_servers.aliyun import AliyunSmsServer
from dev.sms_servers.base import Fault, Received
from dev.sms_servers.tencent import TencentSmsServer

__all__ = ["AliyunSmsServer", "Fault", "Received", "TencentSmsServer"]
