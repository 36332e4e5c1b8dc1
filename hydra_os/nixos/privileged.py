"""The daemon's side of the privileged helper: ``systemctl start hydra-os-nixos@<verb>-<gen>.service``.

The unprivileged daemon may start exactly that unit pattern (a polkit rule in modules/hydra-os.nix);
``systemctl start`` of a oneshot returns when the helper has finished (exit 1 with "Job ... failed"
when it failed). The outcome comes back from the helper's JSON result file (its RuntimeDirectory) and,
as a cross-check that does not depend on the file, from ``systemctl show -p Result,ExecMainStatus``.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from pydantic import BaseModel, Field

from hydra_os.command import CommandError, run_command
from hydra_os.nixos.errors import NixosError
from hydra_os.nixos.helper import Request, Verb, current_generation, profile_generations
from hydra_os.sections.nixos import NixosConfig


class HelperOutcome(BaseModel):
    unit: str
    ok: bool
    result: str = Field(description="systemd's Result= of the run (success, exit-code, ...).")
    exit_status: int | None = Field(description="ExecMainStatus: the helper's exit code.")
    message: str = ""
    helper: dict[str, object] | None = Field(default=None, description="The helper's own JSON result.")


def _props(text: str) -> dict[str, str]:
    out = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep:
            out[key.strip()] = value.strip()
    return out


def _read_result(path: Path) -> dict[str, object] | None:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


async def run_helper(cfg: NixosConfig, systemctl: str, verb: Verb, generation: int) -> HelperOutcome:
    """Start the helper unit for ``verb``/``generation`` and report what it did."""
    req = Request(verb, generation)
    result_file = cfg.helper_result_dir / f"{req.instance}.json"
    await asyncio.to_thread(result_file.unlink, missing_ok=True)  # a stale result must not pass for this run
    try:
        start = await run_command([systemctl, "start", "--", req.unit], limit_s=cfg.activate_timeout_s + 60)
        shown = await run_command([systemctl, "show", "-p", "Result,ExecMainStatus", "--", req.unit], limit_s=15)
    except CommandError as e:
        raise NixosError(f"{req.unit}: {e}") from None
    props = _props(shown.stdout)
    status = props.get("ExecMainStatus", "")
    helper = await asyncio.to_thread(_read_result, result_file)
    ok = start.ok and props.get("Result") == "success" and (helper is None or helper.get("ok") is True)
    message = str(helper.get("message", "")) if helper else ("" if start.ok else start.brief())
    return HelperOutcome(unit=req.unit, ok=ok, result=props.get("Result", "unknown"),
                         exit_status=int(status) if status.isdigit() else None, message=message, helper=helper)


def rollback_target(cfg: NixosConfig, booted: str | None) -> int:
    """The generation to go back to: the one that booted when it is older than the current one (it ran
    fine before the switch), else the newest generation older than the current one (nixos-rebuild
    --rollback's choice)."""
    gens = profile_generations(cfg.profile)
    cur = current_generation(cfg.profile)
    if cur is None:
        raise NixosError(f"{cfg.profile} has no current generation")
    older = sorted(n for n in gens if n < cur)
    if not older:
        raise NixosError(f"no generation older than the current one ({cur}) in {cfg.profile}")
    if booted is not None:
        for n in reversed(older):
            if str(gens[n].resolve()) == booted:
                return n
    return older[-1]
