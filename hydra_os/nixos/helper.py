"""The privileged NixOS helper: the only code that runs as root on the daemon's behalf.

The daemon is ``DynamicUser`` under ``ProtectSystem=strict``: it can neither write the system profile
nor run ``switch-to-configuration``. Instead it starts ``hydra-os-nixos@<verb>-<gen>.service`` (a root
oneshot, see modules/hydra-os.nix), permitted by a polkit rule for exactly that unit pattern. That unit
runs ``hydra-nixos-helper <verb>-<gen>`` (the systemd instance string), which:

- accepts only the verbs in :class:`Verb` and a generation number (decimal, no sign);
- checks that the generation exists in the system profile (``<profile>-<N>-link``, the way Nix keeps
  profile generations) and that its system has ``bin/switch-to-configuration``;
- runs fixed argument lists (never a shell), taking the profile path and binaries from the node's
  config file (``[healing.nixos]``; root-owned in /etc on NixOS), never from the caller;
- prints one JSON result line and, with ``HYDRA_NIXOS_RESULT_DIR`` set (the unit's RuntimeDirectory),
  writes it to ``<dir>/<verb>-<gen>.json`` for the daemon to read; exits 0 on success, 4 when
  activation reported failed units (switch-to-configuration's own code), 2 when the request is refused
  and 1 on any other failure.

Verbs (``N`` a generation of the system profile):

=========== ==========================================================================================
``test``     activate generation N now, bootloader and profile untouched (``switch-to-configuration test``)
``boot``     make N the profile's current generation and the boot default, without activating it
``switch``   make N current and the boot default, and activate it
``rollback`` ``switch`` to an N older than the profile's current generation (refused otherwise)
=========== ==========================================================================================
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
import time
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path

from hydra_os.command import CommandError, run_command
from hydra_os.config import load_settings
from hydra_os.errors import ConfigError
from hydra_os.sections.nixos import NixosConfig

RESULT_DIR_ENV = "HYDRA_NIXOS_RESULT_DIR"
UNIT_TEMPLATE = "hydra-os-nixos@{instance}.service"
EXIT_OK, EXIT_FAILED, EXIT_REFUSED, EXIT_UNITS_FAILED = 0, 1, 2, 4
MAX_GENERATION_DIGITS = 9  # Nix numbers generations from 1 upwards; nine digits is far beyond any real profile


class Verb(StrEnum):
    TEST = "test"
    BOOT = "boot"
    SWITCH = "switch"
    ROLLBACK = "rollback"


_INSTANCE = re.compile(rf"^(?P<verb>[a-z]+)-(?P<gen>[0-9]{{1,{MAX_GENERATION_DIGITS}}})$")
_GEN = re.compile(rf"^[0-9]{{1,{MAX_GENERATION_DIGITS}}}$")


class Refused(Exception):
    """The request is not one the helper runs (bad verb, unknown generation, malformed argument)."""


@dataclass(frozen=True)
class Request:
    verb: Verb
    generation: int

    @property
    def instance(self) -> str:
        return f"{self.verb.value}-{self.generation}"

    @property
    def unit(self) -> str:
        return UNIT_TEMPLATE.format(instance=self.instance)


@dataclass
class HelperResult:
    verb: str
    generation: int | None
    ok: bool
    exit_code: int
    message: str
    steps: list[dict[str, object]] = field(default_factory=list)
    at: float = field(default_factory=time.time)


def parse_request(args: list[str]) -> Request:
    """``["rollback-42"]`` (the systemd instance string) or ``["rollback", "42"]``."""
    if len(args) == 1:
        m = _INSTANCE.match(args[0])
        if m is None:
            raise Refused(f"expected VERB-GENERATION (e.g. rollback-42), got {args[0]!r}")
        verb_s, gen_s = m.group("verb"), m.group("gen")
    elif len(args) == 2:
        verb_s, gen_s = args
        if not _GEN.match(gen_s):
            raise Refused(f"generation: expected a number of at most {MAX_GENERATION_DIGITS} digits, got {gen_s!r}")
    else:
        raise Refused("usage: hydra-nixos-helper VERB-GENERATION | VERB GENERATION")
    try:
        verb = Verb(verb_s)
    except ValueError:
        raise Refused(f"verb: expected one of {', '.join(v.value for v in Verb)}, got {verb_s!r}") from None
    return Request(verb, int(gen_s))


def profile_generations(profile: Path) -> dict[int, Path]:
    """Generation number -> its link (``system-N-link`` next to the profile), as Nix lays profiles out."""
    pattern = re.compile(rf"^{re.escape(profile.name)}-([0-9]+)-link$")
    out: dict[int, Path] = {}
    if profile.parent.is_dir():
        for p in profile.parent.iterdir():
            m = pattern.match(p.name)
            if m and p.is_symlink():
                out[int(m.group(1))] = p
    return out


def current_generation(profile: Path) -> int | None:
    if not profile.is_symlink():
        return None
    m = re.match(rf"^{re.escape(profile.name)}-([0-9]+)-link$", os.readlink(profile))
    return int(m.group(1)) if m else None


def validate(req: Request, cfg: NixosConfig) -> Path:
    """The generation's system (resolved store path) when the request may run; raises Refused otherwise."""
    gens = profile_generations(cfg.profile)
    link = gens.get(req.generation)
    if link is None:
        known = ", ".join(str(n) for n in sorted(gens)[-5:]) or "none"
        raise Refused(f"generation {req.generation} is not in {cfg.profile} (latest: {known})")
    if req.verb is Verb.ROLLBACK:
        cur = current_generation(cfg.profile)
        if cur is None or req.generation >= cur:
            raise Refused(f"rollback: generation {req.generation} is not older than the current one ({cur})")
    system = Path(os.path.realpath(link))
    if not (system / "bin" / "switch-to-configuration").is_file():
        raise Refused(f"generation {req.generation} ({system}) has no bin/switch-to-configuration")
    return system


def plan(req: Request, cfg: NixosConfig, system: Path) -> list[list[str]]:
    """The argument lists the verb runs, in order."""
    stc = str(system / "bin" / "switch-to-configuration")
    set_profile = [cfg.nix_env, "-p", str(cfg.profile), "--switch-generation", str(req.generation)]
    if req.verb is Verb.TEST:
        return [[stc, "test"]]
    if req.verb is Verb.BOOT:
        return [set_profile, [stc, "boot"]]
    return [set_profile, [stc, "switch"]]  # switch and rollback


async def execute(req: Request, cfg: NixosConfig) -> HelperResult:
    system = validate(req, cfg)
    steps: list[dict[str, object]] = []
    for argv in plan(req, cfg, system):
        try:
            res = await run_command(argv, limit_s=cfg.activate_timeout_s)
        except CommandError as e:
            steps.append({"argv": argv, "returncode": -1, "error": str(e)})
            return HelperResult(req.verb.value, req.generation, False, EXIT_FAILED, str(e), steps)
        steps.append({"argv": argv, "returncode": res.returncode})
        if not res.ok:
            code = EXIT_UNITS_FAILED if res.returncode == EXIT_UNITS_FAILED else EXIT_FAILED
            return HelperResult(req.verb.value, req.generation, False, code, res.brief(), steps)
    return HelperResult(req.verb.value, req.generation, True, EXIT_OK, f"{req.verb.value} to generation "
                        f"{req.generation} ({system}) done", steps)


def write_result(result: HelperResult, instance: str | None) -> None:
    """The JSON result on stdout (the journal) and, when the unit gives one, in its result dir."""
    text = json.dumps(asdict(result))
    print(text, flush=True)
    target = os.environ.get(RESULT_DIR_ENV)
    if not target or instance is None or not _INSTANCE.match(instance):
        return
    d = Path(target)
    d.mkdir(parents=True, exist_ok=True)
    tmp = d / f".{instance}.tmp"
    tmp.write_text(text)
    tmp.chmod(0o644)  # the daemon (another user) reads it
    os.replace(tmp, d / f"{instance}.json")


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        req = parse_request(args)
        cfg = load_settings().healing.nixos
        result = asyncio.run(execute(req, cfg))
    except ConfigError as e:
        print(f"hydra-nixos-helper: {e}", file=sys.stderr)
        return EXIT_FAILED
    except Refused as e:
        print(f"hydra-nixos-helper: refused: {e}", file=sys.stderr)
        write_result(HelperResult(args[0][:40] if args else "", None, False, EXIT_REFUSED, f"refused: {e}"),
                     args[0] if len(args) == 1 else None)
        return EXIT_REFUSED
    write_result(result, req.instance)
    return result.exit_code


if __name__ == "__main__":
    sys.exit(main())
