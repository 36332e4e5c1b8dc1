"""A real daemon serving Mission Control, and a second in-process policy node on its bus that parks
ASK_FIRST actions (``data.delete`` asks first by default) with an executor that records what ran."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from hydra_os.bus.auth import local_credentials
from hydra_os.bus.client import Bus
from hydra_os.config import BusConfig
from hydra_os.policy.approval_links import ApprovalLinks, Verb
from hydra_os.policy.model import Action, OutcomeStatus
from tests.helpers import DaemonProc, daemon_env, free_port
from tests.inference.test_gateway_e2e import Standin
from tests.policy.nodes import PolicyNode, Recorder, start_node

PASSWORD = "correct horse battery staple"
ENGINE_MODEL = "qwen3-8b"


def start_daemon(tmp: Path, *, secure_cookie: bool | None = None, max_streams: int | None = None,
                 engine_url: str | None = None) -> DaemonProc:
    """``engine_url``: an OpenAI stand-in engine behind this node's gateway (``hydra/auto``, so the
    intake answers questions through it)."""
    port = free_port()
    (tmp / "ui-password").write_text(PASSWORD + "\n")
    env = {"HYDRA_NODE__ROLES": "gateway,memory,scheduler,worker", "HYDRA_LOG__LEVEL": "INFO",
           "HYDRA_UI__PUBLIC_URL": f"http://127.0.0.1:{port}", "HYDRA_UI__PASSWORD_FILE": str(tmp / "ui-password")}
    if engine_url is not None:
        (tmp / "engine.toml").write_text(f'[[inference.endpoints]]\nurl = "{engine_url}"\nmodel = "{ENGINE_MODEL}"\n'
                                         'tier = "standard"\ncontext_length = 8192\n'
                                         # one engine: a broken stream must not keep it cooling for long
                                         # and a stalled one is cut after 4 s (not 300)
                                         '[inference.router]\ncooldown_base = 0.5\nread_timeout = 4\n')
        env["HYDRA_CONFIG"] = str(tmp / "engine.toml")
    if max_streams is not None:
        env["HYDRA_UI__MAX_STREAMS"] = str(max_streams)
    if secure_cookie is not None:
        env["HYDRA_UI__SECURE_COOKIE"] = str(secure_cookie).lower()
    d = DaemonProc("mc", tmp / "mc", daemon_env(**env), extra_args=["--api-port", str(port)])
    return d.start(timeout=90)


@dataclass
class Parker:
    """The second node: parks actions for approval and runs them once approved."""

    node: PolicyNode
    ran: Recorder

    async def park(self, target: str) -> str:
        out = await self.node.gate.submit(Action(kind="data.delete", target=target, summary=f"delete {target}"))
        assert out.status is OutcomeStatus.PENDING and out.approval_id, out
        return out.approval_id


@asynccontextmanager
async def parker(d: DaemonProc) -> AsyncIterator[Parker]:
    bus = Bus(d.runtime["bus"], BusConfig(), name="parker", credentials=local_credentials(d.state_dir))
    await bus.connect()
    node = await start_node(bus, "parker")
    rec = Recorder()
    node.gate.register_executor("data.delete", rec)
    try:
        yield Parker(node, rec)
    finally:
        await node.stop()
        await bus.close()


def phone_link(d: DaemonProc, approval_id: str, verb: Verb, expires_at: float) -> str:
    """A link as the node's healer puts under a notification (signed with the node's own key file)."""
    links = ApprovalLinks.open(d.state_dir)
    return links.url(d.api_url, approval_id, verb, expires_at)


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]+)"', html)
    assert m, "no CSRF field on the page"
    return m.group(1)


def api(d: DaemonProc) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=d.api_url, headers={"Authorization": f"Bearer {d.token}"}, timeout=30)


def browser_client(d: DaemonProc, cookie: str | None = None) -> httpx.AsyncClient:
    """A client that, like a browser, sends the session cookie back (set by hand: the cookie may be
    Secure and this is plain http on loopback) and an Origin on POSTs."""
    headers = {"origin": d.api_url}
    if cookie:
        headers["cookie"] = f"hydra_ui={cookie}"
    return httpx.AsyncClient(base_url=d.api_url, headers=headers, timeout=30)


async def sign_in(d: DaemonProc, secret: str) -> str:
    async with browser_client(d) as c:
        r = await c.post("/ui/login", data={"secret": secret})
    assert r.status_code == 303, r.text
    return str(r.cookies["hydra_ui"])


async def control(engine: Standin, body: dict[str, Any]) -> list[dict[str, Any]]:
    """Script the stand-in engine (``/_control``, see tests/standins/openai_server.py); its request log."""
    base = engine.url.removesuffix("/v1")
    async with httpx.AsyncClient(timeout=10) as c:
        if body:
            (await c.post(base + "/_control", json=body)).raise_for_status()
        out: list[dict[str, Any]] = (await c.get(base + "/_log")).json()
        return out


async def model_up(d: DaemonProc) -> None:
    """Until the daemon's gateway lists the engine's model (the intake then answers with it)."""
    async with api(d) as c, asyncio.timeout(60):
        while True:
            if ENGINE_MODEL in {m["id"] for m in (await c.get("/v1/models")).json()["data"]}:
                return
            await asyncio.sleep(0.3)
