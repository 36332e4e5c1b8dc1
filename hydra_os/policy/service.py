"""The policy component every node runs: the gate, approvals, maintenance mirror, hot reload.

Built by :func:`hydra_os.wiring.build_components` on every node (all nodes enforce policy). While
being built it loads the policy file (a malformed file stops the daemon from starting, with the
line and the problem); its node RPC verbs and API router are registered by the wiring. ``start()`` opens the
``hydra_approvals`` and ``hydra_policy`` buckets and starts four tasks: the approvals watcher
(:class:`~hydra_os.policy.approval_runner.ApprovalRunner`), the expiry sweeper, the maintenance
mirror and the policy-file poller.

Reload: the file is polled every ``policy.reload_interval`` seconds (mtime, size and content
digest); a changed file that loads cleanly replaces the policy (receipt ``policy.reloaded``); a
malformed one is logged and receipted (``policy.reload_failed``) and the last good policy stays.
The ``policy_reload`` RPC verb forces a check.

Other components get the gate from here: ``policy.gate`` (see :class:`hydra_os.policy.model.Gate`).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import nats.errors
from fastapi import APIRouter
from loguru import logger

from hydra_os.component import NodeContext
from hydra_os.errors import HydraError
from hydra_os.lifecycle import Lifecycle, RpcHandler
from hydra_os.policy.api import build_router
from hydra_os.policy.approval_runner import ApprovalRunner
from hydra_os.policy.approvals import ApprovalStore
from hydra_os.policy.engine import PolicyEngine
from hydra_os.policy.gate import PolicyGate
from hydra_os.policy.guards.maintenance import MaintenanceSchedule
from hydra_os.policy.guards.maintenance_store import MaintenanceStore, mirror, policy_bucket
from hydra_os.policy.parse import parse_action
from hydra_os.policy.receipts import RELOAD_FAILED, RELOADED, Receipts
from hydra_os.sections.policy import PolicyConfig


def _file_digest(path: Path) -> str | None:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


async def _keep_running(what: str, run: Callable[[], Awaitable[None]], pause: float = 1.0) -> None:
    """Run a watcher until cancelled; if it dies (bus trouble), log and start it again."""
    while True:
        try:
            await run()
            return
        except asyncio.CancelledError:
            raise
        except Exception as e:
            logger.warning("policy {} stopped ({}: {}); restarting in {}s", what, type(e).__name__, e, pause)
            await asyncio.sleep(pause)


class PolicyService(Lifecycle):
    name = "policy"

    def __init__(self, ctx: NodeContext) -> None:
        self.ctx = ctx
        self.config: PolicyConfig = ctx.settings.policy
        self.engine = PolicyEngine.from_file(self.config.file)
        self.schedule = MaintenanceSchedule(self.config.maintenance, ctx.settings.owner.timezone)
        self.receipts = Receipts(ctx.events)
        self.gate = PolicyGate(ctx.node_id, self.engine, self.receipts, self.config, self.schedule)
        self.runner: ApprovalRunner | None = None
        self.maintenance: MaintenanceStore | None = None
        self._file_digest = _file_digest(self.config.file) if self.config.file else None
        self._reload_lock = asyncio.Lock()

    def routes(self) -> Sequence[APIRouter]:
        return [build_router(self, self.ctx.auth)]

    def rpc_handlers(self) -> Mapping[str, RpcHandler]:
        return {"policy_explain": self._rpc_explain, "policy_status": self._rpc_status,
                "policy_reload": self._rpc_reload, "policy_audit_head": self._rpc_head}

    async def _start(self) -> None:
        store = await ApprovalStore.open(self.ctx.bus, patience_s=self.ctx.settings.tasks.enqueue_patience_s)
        self.gate.approvals = store
        self.runner = ApprovalRunner(self.gate, store)
        kv = await policy_bucket(self.ctx.bus)
        self.maintenance = MaintenanceStore(kv)
        with contextlib.suppress(HydraError, nats.errors.Error, OSError):
            await self.maintenance.prune()  # drop windows that ended while no node ran
        mirrored = asyncio.Event()
        runner = self.runner
        bg = self.background
        bg.spawn(_keep_running("approvals watcher", runner.watch), "approvals")
        bg.spawn(runner.sweep(self.config.expiry_sweep_interval, self.config.approval_retention), "sweep")
        bg.spawn(_keep_running("maintenance mirror", lambda: mirror(kv, self.schedule, mirrored)), "maintenance")
        bg.spawn(self._poll_file(), "reload")
        # start enforcing with the cluster's maintenance windows and open approvals known
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(mirrored.wait(), self.runner.ready.wait()), 10)
        logger.info("policy: {} rules from {}", len(self.engine.policy.rules), self.engine.policy.source)

    async def _stop(self) -> None:
        await self.background.close()  # the watchers first: they use the runner
        if self.runner is not None:
            await self.runner.stop()
        with contextlib.suppress(Exception):
            await self.receipts.flush()

    # ---- reload ------------------------------------------------------------------------------
    async def _poll_file(self) -> None:
        while True:
            await asyncio.sleep(self.config.reload_interval)
            try:
                await self.check_reload()
            except HydraError as e:
                logger.warning("policy reload check failed: {}", e)
            if self.receipts.queued:
                await self.receipts.flush()

    async def check_reload(self, force: bool = False) -> dict[str, Any]:
        """Reload when the file changed (or ``force``); the last good policy stays on error."""
        path = self.config.file
        if path is None:
            return {"reloaded": False, "source": self.engine.policy.source}
        async with self._reload_lock:
            digest = await asyncio.to_thread(_file_digest, path)
            if digest == self._file_digest and not force:
                return {"reloaded": False, "source": str(path)}
            self._file_digest = digest
            err = await asyncio.to_thread(self.engine.reload, path)
            if err is not None:
                logger.error("{}; keeping the last good policy ({})", err, self.engine.policy.digest[:12])
                await self.receipts.policy(RELOAD_FAILED, source=str(path), error=str(err),
                                           kept=self.engine.policy.digest)
                return {"reloaded": False, "error": str(err), "kept": self.engine.policy.digest[:12]}
            logger.info("policy reloaded from {} ({} rules)", path, len(self.engine.policy.rules))
            await self.receipts.policy(RELOADED, source=str(path), digest=self.engine.policy.digest,
                                       rules=len(self.engine.policy.rules))
            return {"reloaded": True, "digest": self.engine.policy.digest[:12],
                    "rules": len(self.engine.policy.rules)}

    # ---- node RPC ----------------------------------------------------------------------------
    async def _rpc_explain(self, params: dict[str, Any]) -> dict[str, Any]:
        action = parse_action(params)
        return {"action_hash": action.content_hash(),
                "decision": self.gate.decide(action).model_dump(mode="json")}

    async def _rpc_status(self, _: dict[str, Any]) -> dict[str, Any]:
        return self.status()

    async def _rpc_reload(self, _: dict[str, Any]) -> dict[str, Any]:
        return await self.check_reload(force=True)

    async def _rpc_head(self, _: dict[str, Any]) -> dict[str, Any]:
        await self.receipts.flush()
        return {"node": self.ctx.node_id, "head": self.ctx.events.head}

    def _details(self) -> dict[str, Any]:
        return {
            **self.gate.status(),
            "maintenance": [w for w in self.schedule.describe() if w["open"]],
            "receipts_queued": len(self.receipts.queued),
            "receipts_dropped": self.receipts.dropped,
            **(self.runner.status() if self.runner else {}),
        }
