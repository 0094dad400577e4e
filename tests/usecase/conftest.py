"""Use-case tests: the service layer on the in-memory store; no servers."""

from __future__ import annotations

import pytest

from tests.usecase.tasks_setup import World


@pytest.fixture
def world() -> World:
    return World()
