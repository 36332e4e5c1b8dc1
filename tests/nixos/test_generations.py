"""Generations through the stand-in nix-env and nixos-rebuild (real output formats)."""
from __future__ import annotations

import pytest

from hydra_os.nixos.errors import NixosError
from hydra_os.nixos.generations import list_generations, parse_nix_env, parse_rebuild_json
from hydra_os.nixos.system import system_state
from tests.standins.nixsim import NixSim

REAL_NIX_ENV = (
    "   1   2024-05-01 10:03:36   \n"
    "   2   2024-05-03 18:22:01   \n"
    "  12   2024-06-17 09:00:00   (current)\n"
)

REAL_REBUILD_JSON = """[
  {"generation": 12, "date": "2024-06-17 09:00:00", "nixosVersion": "24.05.20240616.abc",
   "kernelVersion": "6.6.34", "configurationRevision": "1a2b3c", "specialisations": ["gaming"],
   "current": true},
  {"generation": 2, "date": "2024-05-03 18:22:01", "nixosVersion": "24.05.20240502.def",
   "kernelVersion": "6.6.30", "configurationRevision": "", "specialisations": [], "current": false}
]"""


def test_parse_nix_env_real_format() -> None:
    gens = parse_nix_env(REAL_NIX_ENV)
    assert [g.number for g in gens] == [1, 2, 12]
    assert [g.current for g in gens] == [False, False, True]
    assert gens[0].date == "2024-05-01 10:03:36"


def test_parse_nix_env_rejects_garbage() -> None:
    with pytest.raises(NixosError, match="unexpected line"):
        parse_nix_env("error: profile does not exist\n")


def test_parse_rebuild_json_real_format() -> None:
    gens = parse_rebuild_json(REAL_REBUILD_JSON)
    assert [g.number for g in gens] == [2, 12]
    assert gens[1].current and gens[1].configuration_revision == "1a2b3c"
    assert gens[1].specialisations == ["gaming"]
    assert gens[0].configuration_revision is None


def test_parse_rebuild_json_rejects_wrong_shape() -> None:
    with pytest.raises(NixosError, match="list-generations --json"):
        parse_rebuild_json('{"generation": 1}')


async def test_list_generations_via_standins(nixsim: NixSim) -> None:
    cfg = nixsim.config()
    gens = await list_generations(cfg)
    assert [g.number for g in gens] == [1]
    assert gens[0].current and gens[0].configuration_revision == "rev-good"
    plain = await list_generations(cfg, prefer_json=False)
    assert [(g.number, g.current) for g in plain] == [(1, True)]
    assert ["nix-env", "--list-generations", "-p", str(cfg.profile)] in nixsim.calls()


async def test_list_generations_falls_back_to_nix_env(nixsim: NixSim) -> None:
    cfg = nixsim.config(nixos_rebuild="/nonexistent/nixos-rebuild")
    gens = await list_generations(cfg)
    assert [g.number for g in gens] == [1]
    assert gens[0].nixos_version is None  # only nix-env's fields


def test_current_vs_booted(nixsim: NixSim) -> None:
    st = system_state(nixsim.config())
    assert st.current == st.booted == st.profile
    assert not st.switched_since_boot
