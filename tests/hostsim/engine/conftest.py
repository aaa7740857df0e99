"""Fixtures of the engine tests; the helpers themselves live in engine_testkit."""

import pytest
from engine_testkit import make_host

from hostsim.engine import HostSim


@pytest.fixture
def host() -> HostSim:
    return make_host()
