"""The identity service's store: the interface (port.py), PostgreSQL and in memory."""

from services.identity.store.port import Change, IdentityStore, Tx

__all__ = ["Change", "IdentityStore", "Tx"]
