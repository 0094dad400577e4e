"""The notifications service's store: the interface (port.py), PostgreSQL and memory."""

from services.notifications.store.port import Job, NotificationStore, Outcome, Send, Tx

__all__ = ["Job", "NotificationStore", "Outcome", "Send", "Tx"]
