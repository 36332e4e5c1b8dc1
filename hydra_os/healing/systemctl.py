"""``systemctl`` through argument lists: unit state (``show -p ...``) and ``restart``."""

from __future__ import annotations

from pydantic import BaseModel

from hydra_os.command import CommandError, run_command
from hydra_os.healing.errors import CheckFailedToRun, FixupError

PROPS = "ActiveState,SubState,Result,NRestarts,LoadState"


class UnitState(BaseModel):
    unit: str
    active: str
    sub: str
    result: str
    n_restarts: int
    load: str

    @property
    def failed(self) -> bool:
        return self.active == "failed"

    @property
    def missing(self) -> bool:
        return self.load == "not-found"


def parse_show(unit: str, text: str) -> UnitState:
    """Parse ``Key=Value`` lines (any order; systemctl does not keep the -p order)."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            values[key.strip()] = value.strip()
    if "ActiveState" not in values:
        raise CheckFailedToRun(f"systemctl show {unit} printed no ActiveState: {text.strip()[:200]!r}")
    raw_restarts = values.get("NRestarts", "0")
    return UnitState(
        unit=unit,
        active=values["ActiveState"],
        sub=values.get("SubState", ""),
        result=values.get("Result", ""),
        n_restarts=int(raw_restarts) if raw_restarts.isdigit() else 0,
        load=values.get("LoadState", "loaded"),
    )


async def show(systemctl: str, unit: str) -> UnitState:
    try:
        res = await run_command([systemctl, "show", "-p", PROPS, "--", unit], limit_s=15)
    except CommandError as e:
        raise CheckFailedToRun(str(e)) from None
    if not res.ok:
        raise CheckFailedToRun(f"cannot read unit {unit}: {res.brief()}")
    return parse_show(unit, res.stdout)


async def restart(systemctl: str, unit: str) -> None:
    try:
        res = await run_command([systemctl, "restart", "--", unit], limit_s=120)
    except CommandError as e:
        raise FixupError(str(e)) from None
    if not res.ok:
        raise FixupError(f"systemctl restart {unit} failed: {res.brief()}")
