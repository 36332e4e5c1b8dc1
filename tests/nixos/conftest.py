from __future__ import annotations

from pathlib import Path

import pytest

from tests.standins.nixsim import NixSim


@pytest.fixture
def nixsim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> NixSim:
    sim = NixSim(tmp_path)
    for k, v in sim.env().items():
        monkeypatch.setenv(k, v)
    sim.install_first()
    return sim
