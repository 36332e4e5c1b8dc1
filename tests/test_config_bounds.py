"""Config that used to crash the daemon (or wedge it) is refused by ``hydra run`` with one line, exit 2.

Each case runs the real CLI in a subprocess: ``hydra --config bad.toml run``.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pydantic
import pytest

from hydra_os.config import Settings, load_settings
from hydra_os.errors import ConfigError
from tests.helpers import REPO, daemon_env

CASES = {
    "ack_wait_inf": ("[tasks]\nack_wait_s = inf\n", "tasks.ack_wait_s"),
    "ack_wait_huge": ("[tasks]\nack_wait_s = 1e300\n", "tasks.ack_wait_s"),
    "gone_after_inf": ("[membership]\ngone_after = inf\n", "membership.gone_after"),
    "heartbeat_tiny": ("[membership]\nheartbeat_interval = 1e-9\n", "membership.heartbeat_interval"),
    "nan_timeout": ("[bus]\nrequest_timeout = nan\n", "bus.request_timeout"),
    "memory_interval_inf": ("[memory.service]\noptimize_interval_s = inf\n", "memory.service.optimize_interval_s"),
    "scheduler_lease_huge": ("[tasks.scheduler]\nlease_s = 1e300\n", "tasks.scheduler.lease_s"),
}


def _run(cfg: Path, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hydra_os", "--config", str(cfg), "run", "--state-dir", str(tmp_path / "state")],
        env=daemon_env(), cwd=REPO, capture_output=True, text=True, timeout=120, check=False,
    )


def _one_line_refusal(r: subprocess.CompletedProcess[str]) -> str:
    assert r.returncode == 2, r.stderr
    out = (r.stdout + r.stderr).strip()
    assert "Traceback" not in out
    assert len(out.splitlines()) == 1, out
    return out


@pytest.mark.parametrize("case", sorted(CASES))
def test_unbounded_durations_are_refused_by_hydra_run(tmp_path: Path, case: str) -> None:
    body, field = CASES[case]
    cfg = tmp_path / "bad.toml"
    cfg.write_text(body)
    out = _one_line_refusal(_run(cfg, tmp_path))
    assert field in out and "invalid configuration" in out


def test_non_utf8_config_is_refused_by_hydra_run(tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_bytes(b'[owner]\nname = "caf\xe9"\n')
    out = _one_line_refusal(_run(cfg, tmp_path))
    assert str(cfg) in out and "UTF-8" in out and "0xe9" in out


def test_every_duration_field_is_bounded() -> None:
    """Every float field that is a duration in any config model refuses inf, nan, 1e300 and 1e-9."""
    found: list[str] = []

    def walk(model: type[pydantic.BaseModel], prefix: str) -> None:
        for name, f in model.model_fields.items():
            ann = f.annotation
            args = getattr(ann, "__args__", ())
            inner = [a for a in (ann, *args) if isinstance(a, type) and issubclass(a, pydantic.BaseModel)]
            if inner:
                walk(inner[0], f"{prefix}{name}.")
                continue
            origin = getattr(ann, "__origin__", None)
            if origin is list and args and isinstance(args[0], type) and issubclass(args[0], pydantic.BaseModel):
                walk(args[0], f"{prefix}{name}[].")
                continue
            if float in (ann, *args) and _is_duration(name):
                found.append(f"{prefix}{name}")
                zero_ok = _accepts(model, name, 0.0)  # 0 = none (no grace, no wait): a tiny value is no loop
                for bad in (float("inf"), float("nan"), 1e300, *(() if zero_ok else (1e-9,))):
                    with pytest.raises(pydantic.ValidationError) as err:
                        model.model_validate({name: bad})
                    assert any(e["loc"][:1] == (name,) for e in err.value.errors()), (prefix + name, bad)

    walk(Settings, "")
    assert len(found) >= 50, found


def _accepts(model: type[pydantic.BaseModel], name: str, value: float) -> bool:
    try:
        model.model_validate({name: value})
    except pydantic.ValidationError as e:
        return not any(err["loc"][:1] == (name,) for err in e.errors())
    return True


def _is_duration(name: str) -> bool:
    return re.search(r"(_s|_h)$|timeout|interval|wait|after|expiry|window|grace|retention|lease|cooldown|"
                     r"backoff_(base|max)", name) is not None


def test_the_bounds_are_named_in_the_error() -> None:
    with pytest.raises(ConfigError, match=r"membership.heartbeat_interval: got 1e-09, expected: .*0.01"):
        load_settings(None, membership={"heartbeat_interval": 1e-9})
