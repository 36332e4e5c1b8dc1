"""The MCP server over both transports, with the SDK's own client, against a real daemon (embedded
nats-server, real memory stores with the hashing embedder, the task worker)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import httpx2
import pytest
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from tests.helpers import REPO, DaemonProc, daemon_env, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(300)]

TOOLS = {"memory_search", "remember", "core_memory_read", "core_memory_edit", "graph_facts", "learnings_add",
         "learnings_search", "ask", "queue_task", "task_status", "approvals_list"}
# no built-in briefing job: within its 6 h grace after the owner's wake time a fresh daemon would make a
# briefing at start, and the "no briefing yet" case below would depend on the clock
ENV = {"HYDRA_MEMORY__EMBED__BACKEND": "hashing",
       "HYDRA_TASKS__SCHEDULER__BUILTIN_JOBS": '["health", "overnight", "memory-maintenance"]'}


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DaemonProc]:
    d = DaemonProc("mcp", tmp_path_factory.mktemp("mcp") / "state", daemon_env(**ENV))
    try:
        d.start(timeout=60)
        wait_for(lambda: _memory_up(d), 60, what="memory served")
        yield d
    finally:
        d.stop()


def _memory_up(d: DaemonProc) -> bool:
    with d.client() as c:
        return c.post("/v1/memory/context", json={"query": "ping"}).status_code == 200


@asynccontextmanager
async def http_session(d: DaemonProc) -> AsyncIterator[ClientSession]:
    headers = {"Authorization": f"Bearer {d.token}"}
    async with httpx2.AsyncClient(headers=headers, timeout=60) as http, \
            streamable_http_client(d.api_url + "/mcp", http_client=http) as (read, write), \
            ClientSession(read, write) as s:
        await s.initialize()
        yield s


def cli_env(d: DaemonProc) -> dict[str, str]:
    """A CLI on the daemon's machine: it finds the node (embedded bus, credentials) by its state dir."""
    return daemon_env(HYDRA_NODE__STATE_DIR=str(d.state_dir), **ENV)


@asynccontextmanager
async def stdio_session(d: DaemonProc) -> AsyncIterator[ClientSession]:
    params = StdioServerParameters(command=sys.executable, args=["-m", "hydra_os", "mcp"], env=cli_env(d), cwd=REPO)
    async with stdio_client(params) as (read, write), ClientSession(read, write) as s:
        await s.initialize()
        yield s


async def call(s: ClientSession, tool: str, **args: Any) -> Any:
    r = await s.call_tool(tool, args)
    assert not r.is_error, f"{tool}: {r.content}"
    return r.structured_content["result"] if r.structured_content and "result" in r.structured_content \
        else r.structured_content


async def error_of(s: ClientSession, tool: str, **args: Any) -> str:
    r = await s.call_tool(tool, args)
    assert r.is_error, f"{tool} {args} should fail: {r.content}"
    return " ".join(getattr(c, "text", "") for c in r.content)


def names_field(field: str, message: str) -> bool:
    """The error names the field: the SDK's schema check puts it on a line of its own, ours as ``field: ...``."""
    return f"\n{field}\n" in message or f": {field}: " in message


def test_http_needs_the_token(daemon: DaemonProc) -> None:
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    for headers in ({}, {"Authorization": "Bearer wrong"}):
        r = httpx.post(daemon.api_url + "/mcp", json=body, headers=headers, timeout=10)
        assert r.status_code == 401 and r.headers["www-authenticate"] == "Bearer", r.text
    init = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {},
                       "clientInfo": {"name": "raw", "version": "0"}}}
    r = httpx.post(daemon.api_url + "/mcp", json=init, timeout=10,
                   headers={"Authorization": f"Bearer {daemon.token}", "Accept": "application/json, text/event-stream"})
    assert r.status_code == 200 and r.json()["result"]["serverInfo"]["name"] == "hydra", r.text


async def test_http_tools(daemon: DaemonProc) -> None:
    async with http_session(daemon) as s:
        names = {t.name for t in (await s.list_tools()).tools}
        assert names == TOOLS and not {"approve", "deny"} & names

        added = await call(s, "remember", text="Starfall chapter 3 ends at the station.", tags=["starfall"])
        assert added["passage"]["status"] == "added", added
        hits = await call(s, "memory_search", query="where does chapter 3 end", k=3, tags=["starfall"])
        assert hits[0]["text"] == "Starfall chapter 3 ends at the station."
        assert hits[0]["id"] and hits[0]["source"] == "mcp" and hits[0]["at"]
        assert await call(s, "memory_search", query="chapter 3", tags=["nope"]) == []

        edited = await call(s, "core_memory_edit", label="owner", op="append", text="Name: Sam")
        assert "Name: Sam" in edited["value"]
        blocks = await call(s, "core_memory_read", label="owner")
        assert "Name: Sam" in blocks[0]["value"]
        assert {b["label"] for b in await call(s, "core_memory_read")} >= {"owner", "projects"}
        limit = blocks[0]["limit"]
        assert "limit" in await error_of(s, "core_memory_edit", label="owner", op="rewrite", text="x" * (limit + 1))
        assert names_field("old", await error_of(s, "core_memory_edit", label="owner", op="replace", text="y"))
        assert names_field("op", await error_of(s, "core_memory_edit", label="owner", op="delete", text="y"))
        assert "nosuch" in await error_of(s, "core_memory_read", label="nosuch")

        learned = await call(s, "learnings_add", context="OOM at 32k", learning="70B needs 16k context")
        assert learned["id"].startswith("L-")
        assert (await call(s, "learnings_search", query="70B context"))[0]["id"] == learned["id"]
        assert "Sam" in await error_of(s, "graph_facts", about="Sam")  # no such entity yet
        cli = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "hydra_os", "memory", "remember", "Sam switched to helix",
                             "--fact", "Sam", "prefers_editor", "helix"],
            cwd=REPO, env=cli_env(daemon), capture_output=True, text=True, timeout=60)
        assert cli.returncode == 0, cli.stderr
        facts = await call(s, "graph_facts", about="Sam")
        assert [(f["type"], f["object"]) for f in facts] == [("prefers_editor", "helix")], facts
        assert await call(s, "graph_facts", about="Sam", at="2000-01-01T00:00:00+00:00") == []
        assert isinstance(await call(s, "approvals_list"), list)
        said = await call(s, "ask", text="what is queued tonight?", dry_run=True)
        assert said["intent"], said

        queued = await call(s, "queue_task", kind="diag.echo", params={"text": "hi"})
        task_id = queued["task"]["id"]

        async def finished() -> dict[str, Any]:
            st: dict[str, Any] = await call(s, "task_status", id=task_id)
            return st

        for _ in range(120):
            st = await finished()
            if st["task"]["state"] == "succeeded":
                break
            await asyncio.sleep(0.5)
        assert st["task"]["state"] == "succeeded" and st["task"]["result"]["echo"] == {"text": "hi"}, st

        assert names_field("k", await error_of(s, "memory_search", query="x", k=0))
        assert names_field("query", await error_of(s, "memory_search", k=3))
        assert names_field("since", await error_of(s, "memory_search", query="x", since="yesterday"))
        assert names_field("kind", await error_of(s, "queue_task", kind="Not A Kind!"))
        assert names_field("window", await error_of(s, "queue_task", kind="diag.echo", window="lunch"))
        assert "no-such-task" in await error_of(s, "task_status", id="no-such-task")


async def test_http_resources_and_prompt(daemon: DaemonProc) -> None:
    async with http_session(daemon) as s:
        templates = [t.uri_template for t in (await s.list_resource_templates()).resource_templates]
        assert "hydra://core/{label}" in templates
        uris = {str(r.uri) for r in (await s.list_resources()).resources}
        assert {"hydra://projects", "hydra://briefing/latest"} <= uris
        owner = await s.read_resource("hydra://core/owner")
        assert owner.contents
        projects = await s.read_resource("hydra://projects")
        assert projects.contents
        with pytest.raises(MCPError, match="no briefing has been made yet"):
            await s.read_resource("hydra://briefing/latest")
        with pytest.raises(MCPError, match="nosuch"):
            await s.read_resource("hydra://core/nosuch")
        prompt = await s.get_prompt("session_context", {"focus": "starfall"})
        text = " ".join(getattr(m.content, "text", "") for m in prompt.messages)
        assert "owner" in text.lower(), text


async def test_stdio(daemon: DaemonProc) -> None:
    async with stdio_session(daemon) as s:
        assert {t.name for t in (await s.list_tools()).tools} == TOOLS
        await call(s, "remember", text="The attic NAS has a dying disk.", tags=["nas"])
        hits = await call(s, "memory_search", query="dying disk", tags=["nas"])
        assert hits[0]["text"] == "The attic NAS has a dying disk."
        assert names_field("k", await error_of(s, "memory_search", query="x", k=1000))
        queued = await call(s, "queue_task", kind="diag.echo", params={"text": "stdio"})
        assert (await call(s, "task_status", id=queued["task"]["id"]))["task"]["kind"] == "diag.echo"



async def test_no_memory_node_is_a_tool_error(tmp_path: Path) -> None:
    d = DaemonProc("nomem", tmp_path / "state", daemon_env(HYDRA_NODE__ROLES="worker", **ENV))
    try:
        d.start(timeout=60)
        async with http_session(d) as s:
            msg = await error_of(s, "memory_search", query="anything")
            assert "no memory service answers" in msg, msg
            assert names_field("op", await error_of(s, "core_memory_edit", label="x", op="drop", text="y"))
    finally:
        d.stop()


def test_stdio_without_a_node_says_so(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "hydra_os", "mcp"], cwd=REPO, capture_output=True, text=True,
                       timeout=60, env=daemon_env(HYDRA_NODE__STATE_DIR=str(tmp_path / "none")),
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 2 and "no hydra daemon is running" in r.stderr, r.stderr
    assert r.stdout == ""  # stdout is the protocol's: nothing else is ever written there
