"""What the JetStream stream carrying Linli's events looks like in one environment: its replicas,
storage, limits and duplicate window, from settings (LINLI_STREAM_*)."""

from __future__ import annotations

from dataclasses import dataclass

from nats.js import api


@dataclass(frozen=True)
class StreamSpec:
    name: str = "LINLI"
    replicas: int = 1
    storage: str = "file"
    # Zero or less: no limit.
    max_age_s: float = 0.0
    max_bytes: int = -1
    duplicate_window_s: float = 120.0

    def config(self, subjects: list[str]) -> api.StreamConfig:
        return api.StreamConfig(
            name=self.name,
            subjects=subjects,
            storage=api.StorageType(self.storage),
            retention=api.RetentionPolicy.LIMITS,
            num_replicas=self.replicas,
            max_age=self.max_age_s if self.max_age_s > 0 else None,
            max_bytes=self.max_bytes if self.max_bytes > 0 else None,
            duplicate_window=self.duplicate_window_s,
        )

    def differs_from(self, current: api.StreamConfig) -> list[str]:
        """The settings the running stream does not have yet (the ones NATS can change)."""
        wanted = self.config(current.subjects or [])
        fields = ("num_replicas", "max_age", "max_bytes", "duplicate_window")
        return [f for f in fields if _norm(getattr(wanted, f)) != _norm(getattr(current, f))]


def _norm(value: object) -> object:
    """NATS reports "no limit" as 0 or -1 and times as floats; compare them as one."""
    if value is None or (isinstance(value, (int, float)) and value <= 0):
        return None
    if isinstance(value, float):
        return round(value, 3)
    return value
