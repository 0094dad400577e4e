"""The identity service's use cases: sign-in (signin.py), tokens and keys (tokens.py), and the
management of accounts (accounts.py), put together by `Identity`."""

from __future__ import annotations

from services.common.clock import Clock, system_clock
from services.common.settings import IdentitySettings
from services.common.sms import SmsSender
from services.identity.keys import Sealer
from services.identity.service.accounts import Accounts
from services.identity.service.signin import Passwords, SignIn
from services.identity.service.tokens import Tokens
from services.identity.store import IdentityStore

__all__ = ["Accounts", "Identity", "Passwords", "SignIn", "Tokens"]


class Identity:
    """The use cases of the identity service over one store."""

    def __init__(
        self,
        store: IdentityStore,
        settings: IdentitySettings,
        sms: SmsSender,
        clock: Clock = system_clock,
        passwords: Passwords | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        sealer = Sealer(settings.identity_secrets_key.get_secret_value())
        self.passwords = passwords or Passwords()
        self.tokens = Tokens(store, settings, sealer, clock)
        self.sign_in = SignIn(store, settings, self.tokens, self.passwords, sealer, sms, clock)
        self.accounts = Accounts(store, self.passwords, clock)
