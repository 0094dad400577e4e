"""The registry's use cases: check who may act, apply the rules, and let the store write.

Callers pass domain values and the acting Principal; results are domain values. The gRPC
servicer (api.py) is a thin translation on top.
"""

from __future__ import annotations

from services.common.clock import Clock, system_clock
from services.common.settings import RegistrySettings
from services.common.sms import SmsSender
from services.registry.service.erasure import ErasureCases
from services.registry.service.members import MemberCases
from services.registry.service.org import OrgCases
from services.registry.service.qualifications import QualificationCases
from services.registry.store import RegistryStore


class Registry(OrgCases, MemberCases, QualificationCases, ErasureCases):
    def __init__(
        self,
        store: RegistryStore,
        settings: RegistrySettings,
        sms: SmsSender,
        clock: Clock = system_clock,
    ) -> None:
        self.store = store
        self.settings = settings
        self.sms = sms
        self.clock = clock
