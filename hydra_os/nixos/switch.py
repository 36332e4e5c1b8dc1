"""The safe switch: build, ``switch-to-configuration test``, health gate, then ``boot`` + profile set.

Steps (every one an argument list, never a shell):

1. ``nixos-rebuild build --flake FLAKE`` in a work dir; the toplevel is where ``./result`` points.
2. The revision: ``<toplevel>/sw/bin/nixos-version --configuration-revision`` (else the store path).
   A revision that failed its gate before is refused (``force`` overrides).
3. ``<toplevel>/bin/switch-to-configuration test``: activate without touching the bootloader.
4. Health gate: exit code 4 means units failed; then, after ``gate_settle_s``, Hydra's own checks
   (async callables returning a list of problems).
5. Gate passed: ``nix-env -p PROFILE --set TOPLEVEL`` then ``<toplevel>/bin/switch-to-configuration
   boot`` (the bootloader lists the profile's generations, so the profile is set first).
6. Gate failed: ``<previous>/bin/switch-to-configuration test`` re-activates the system that ran
   before; profile and bootloader were never touched, so a reboot also lands on the old one. The
   revision is recorded in the ledger and an INFORM_AFTER notification goes to the owner.

``rollback()`` is what ``nixos-rebuild switch --rollback`` does: ``nix-env -p PROFILE --rollback``
then ``PROFILE/bin/switch-to-configuration switch``. One switch at a time per host (a file lock).
"""

from __future__ import annotations

import asyncio
import fcntl
import os
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from loguru import logger
from pydantic import BaseModel, Field

from hydra_os.command import CommandError, CommandResult, run_command
from hydra_os.errors import HydraError
from hydra_os.nixos.errors import NixosError, RevisionRefused
from hydra_os.nixos.ledger import FailedRevisions
from hydra_os.nixos.system import resolve
from hydra_os.notify import Notification, Notifier, NotifyError
from hydra_os.sections.nixos import NixosConfig

GateCheck = Callable[[], Awaitable[list[str]]]
"""One of Hydra's own health checks for the gate: returns problems, empty when healthy."""

UNITS_FAILED_EXIT = 4


class Step(BaseModel):
    name: str
    argv: list[str]
    why: str


class StepRecord(BaseModel):
    name: str
    argv: list[str]
    returncode: int
    seconds: float
    tail: str = ""


class SwitchOutcome(BaseModel):
    status: Literal["switched", "rolled_back", "unchanged", "dry_run"]
    ok: bool
    toplevel: str | None = None
    revision: str | None = None
    previous: str | None = None
    problems: list[str] = Field(default_factory=list)
    steps: list[StepRecord] = Field(default_factory=list)
    plan: list[Step] = Field(default_factory=list)
    seconds: float = 0.0


class SafeSwitch:
    def __init__(
        self,
        cfg: NixosConfig,
        ledger: FailedRevisions,
        workdir: Path,
        *,
        gate_checks: Sequence[GateCheck] = (),
        notifier: Notifier | None = None,
        node_id: str = "node",
    ) -> None:
        self.cfg = cfg
        self.ledger = ledger
        self.workdir = workdir
        self.gate_checks = list(gate_checks)
        self.notifier = notifier
        self.node_id = node_id
        self._steps: list[StepRecord] = []

    # ---- the plan --------------------------------------------------------------------------------
    def plan(self, toplevel: str = "<toplevel>", previous: str | None = None) -> list[Step]:
        prev = previous or "<current-system>"
        steps = []
        if self.cfg.flake:
            steps.append(
                Step(
                    name="build",
                    argv=[self.cfg.nixos_rebuild, "build", "--flake", self.cfg.flake],
                    why="build the new system; ./result points at its toplevel",
                )
            )
        steps += [
            Step(
                name="revision",
                argv=[f"{toplevel}/sw/bin/nixos-version", "--configuration-revision"],
                why="which configuration revision this is (refused if it failed before)",
            ),
            Step(
                name="test",
                argv=[f"{toplevel}/bin/switch-to-configuration", "test"],
                why="activate without touching the bootloader",
            ),
            Step(
                name="gate",
                argv=[],
                why=f"exit code 4 = failed units; then Hydra's {len(self.gate_checks)} "
                f"check(s) after {self.cfg.gate_settle_s:g}s",
            ),
            Step(
                name="set-profile",
                argv=[self.cfg.nix_env, "-p", str(self.cfg.profile), "--set", toplevel],
                why="gate passed: make it the next generation",
            ),
            Step(
                name="boot",
                argv=[f"{toplevel}/bin/switch-to-configuration", "boot"],
                why="gate passed: make it the boot default",
            ),
            Step(
                name="rollback",
                argv=[f"{prev}/bin/switch-to-configuration", "test"],
                why="gate failed instead: re-activate the previous system, record the revision, inform",
            ),
        ]
        return steps

    # ---- helpers ---------------------------------------------------------------------------------
    @contextmanager
    def _host_lock(self) -> Iterator[None]:
        self.workdir.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.workdir / "switch.lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise NixosError("another NixOS switch is running on this host; wait for it") from None
            yield
        finally:
            os.close(fd)

    async def _run(
        self, name: str, argv: list[str], limit_s: float, cwd: Path | None = None
    ) -> CommandResult:
        t0 = time.monotonic()
        try:
            res = await run_command(argv, limit_s=limit_s, cwd=cwd)
        except CommandError as e:
            self._steps.append(
                StepRecord(name=name, argv=argv, returncode=-1, seconds=time.monotonic() - t0, tail=str(e))
            )
            raise NixosError(f"{name}: {e}") from None
        tail = (res.stderr.strip() or res.stdout.strip()).splitlines()[-1:] or [""]
        self._steps.append(
            StepRecord(
                name=name,
                argv=argv,
                returncode=res.returncode,
                seconds=round(time.monotonic() - t0, 3),
                tail=tail[0][:300],
            )
        )
        logger.info("nixos {}: {} -> {}", name, " ".join(argv), res.returncode)
        return res

    async def build(self) -> str:
        if not self.cfg.flake:
            raise NixosError(
                "healing.nixos.flake is not set; set it (e.g. '/etc/nixos#host') or pass a toplevel"
            )
        build_dir = self.workdir / "build"
        build_dir.mkdir(parents=True, exist_ok=True)
        res = await self._run(
            "build",
            [self.cfg.nixos_rebuild, "build", "--flake", self.cfg.flake],
            self.cfg.build_timeout_s,
            cwd=build_dir,
        )
        if not res.ok:
            raise NixosError(f"build failed: {res.brief()}")
        result = build_dir / "result"
        if not result.exists():
            raise NixosError(f"build succeeded but {result} does not exist")
        return await asyncio.to_thread(os.path.realpath, result)

    async def revision_of(self, toplevel: str) -> str:
        tool = Path(toplevel) / "sw/bin/nixos-version"
        if tool.exists():
            res = await self._run("revision", [str(tool), "--configuration-revision"], 30)
            if res.ok and res.stdout.strip():
                return res.stdout.strip()
        return toplevel

    async def _gate(self, test: CommandResult) -> list[str]:
        problems = []
        if test.returncode == UNITS_FAILED_EXIT:
            problems.append(f"switch-to-configuration test exited 4 (units failed): {test.brief()}")
        elif not test.ok:
            problems.append(f"activation failed: {test.brief()}")
        if problems:
            return problems
        await asyncio.sleep(self.cfg.gate_settle_s)
        for check in self.gate_checks:
            try:
                problems += await check()
            except (HydraError, OSError) as e:
                problems.append(f"gate check could not run: {e}")
        return problems

    async def _inform(self, outcome: SwitchOutcome) -> None:
        if self.notifier is None:
            return
        note = Notification(
            title=f"NixOS change rolled back on {self.node_id}",
            message=(
                f"Revision {outcome.revision} failed its health gate and was rolled back to "
                f"{outcome.previous}: " + "; ".join(outcome.problems)
            ),
            priority="high",
            tags=["nixos", "rollback"],
            data={"revision": outcome.revision, "toplevel": outcome.toplevel, "previous": outcome.previous},
        )
        try:
            await self.notifier.send(note)
        except NotifyError as e:
            logger.warning("could not send the rollback notification: {}", e)

    # ---- the switch ------------------------------------------------------------------------------
    async def switch(
        self, *, toplevel: str | None = None, dry_run: bool = False, force: bool = False
    ) -> SwitchOutcome:
        t0 = time.monotonic()
        self._steps = []
        previous = resolve(self.cfg.current_system)
        if dry_run:
            return SwitchOutcome(
                status="dry_run",
                ok=True,
                toplevel=toplevel,
                previous=previous,
                plan=self.plan(toplevel or "<toplevel>", previous),
            )
        with self._host_lock():
            top = toplevel or await self.build()
            revision = await self.revision_of(top)
            failed = self.ledger.find(revision, top)
            if failed is not None and not force:
                raise RevisionRefused(
                    f"revision {revision} failed its health gate before ({failed.reason}); "
                    "fix the configuration, or pass --force to try it again"
                )
            if previous == top:
                return SwitchOutcome(
                    status="unchanged",
                    ok=True,
                    toplevel=top,
                    revision=revision,
                    previous=previous,
                    steps=self._steps,
                    seconds=time.monotonic() - t0,
                )
            test = await self._run(
                "test", [f"{top}/bin/switch-to-configuration", "test"], self.cfg.activate_timeout_s
            )
            problems = await self._gate(test)
            if not problems:
                res = await self._run(
                    "set-profile", [self.cfg.nix_env, "-p", str(self.cfg.profile), "--set", top], 120
                )
                if not res.ok:
                    raise NixosError(f"the new system runs but setting the profile failed: {res.brief()}")
                res = await self._run(
                    "boot", [f"{top}/bin/switch-to-configuration", "boot"], self.cfg.activate_timeout_s
                )
                if not res.ok:
                    raise NixosError(
                        f"the new system runs but installing the boot entry failed: {res.brief()}"
                    )
                return SwitchOutcome(
                    status="switched",
                    ok=True,
                    toplevel=top,
                    revision=revision,
                    previous=previous,
                    steps=self._steps,
                    seconds=time.monotonic() - t0,
                )
            # the gate failed: back to what ran before
            if previous is None:
                raise NixosError(
                    f"gate failed ({'; '.join(problems)}) and no previous system is known to go back to"
                )
            back = await self._run(
                "rollback", [f"{previous}/bin/switch-to-configuration", "test"], self.cfg.activate_timeout_s
            )
            if not back.ok:
                problems.append(f"re-activating the previous system also failed: {back.brief()}")
            self.ledger.record(revision, top, "; ".join(problems))
            outcome = SwitchOutcome(
                status="rolled_back",
                ok=False,
                toplevel=top,
                revision=revision,
                previous=previous,
                problems=problems,
                steps=self._steps,
                seconds=time.monotonic() - t0,
            )
            await self._inform(outcome)
            return outcome

    async def rollback(self) -> SwitchOutcome:
        """Go back one generation, like ``nixos-rebuild switch --rollback``."""
        t0 = time.monotonic()
        self._steps = []
        previous = resolve(self.cfg.current_system)
        with self._host_lock():
            res = await self._run(
                "profile-rollback", [self.cfg.nix_env, "-p", str(self.cfg.profile), "--rollback"], 120
            )
            if not res.ok:
                raise NixosError(f"cannot roll the profile back: {res.brief()}")
            target = resolve(self.cfg.profile)
            if target is None:
                raise NixosError(f"profile {self.cfg.profile} points nowhere after the rollback")
            act = await self._run(
                "switch", [f"{target}/bin/switch-to-configuration", "switch"], self.cfg.activate_timeout_s
            )
        problems = [] if act.ok else [f"switch-to-configuration switch: {act.brief()}"]
        return SwitchOutcome(
            status="rolled_back",
            ok=act.ok,
            toplevel=target,
            previous=previous,
            problems=problems,
            steps=self._steps,
            seconds=time.monotonic() - t0,
        )
