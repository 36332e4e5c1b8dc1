"""An async client for ComfyUI's HTTP + WebSocket API (aiohttp).

The calls and shapes are ComfyUI's own (``server.py``/``execution.py``): ``POST /prompt`` with
``{"prompt", "client_id"}`` answers ``{"prompt_id", "number", "node_errors"}`` or a 400 with ``error``
and ``node_errors``; ``/ws?clientId=`` streams ``status``, ``execution_start``, ``execution_cached``,
``executing``, ``progress``, ``executed``, ``execution_success`` / ``execution_error`` /
``execution_interrupted`` (binary frames are previews, skipped); ``/history/{id}`` has the outputs and
``/view`` the files. Every await is bounded: one request by ``request_timeout``, a whole job by the
``timeout`` given to :meth:`ComfyClient.run` (past it the job is interrupted and fails).

A server that cannot be reached, closes its socket mid-job or stalls raises
:class:`ComfyUnavailableError` (a batch gives the job to another server); a workflow ComfyUI refuses
or a node that fails raises :class:`ComfyError` with ComfyUI's reason, naming node and input.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp

from pipelines.creative.errors import ComfyError, ComfyUnavailableError

Progress = Callable[[int, int], None]
DETAIL_CHARS = 240
MAX_BODY = 256 * 2**20  # no answer (an image, /object_info) is read past this


@dataclass(frozen=True)
class OutputImage:
    filename: str
    subfolder: str
    type: str
    node: str


@dataclass
class RunResult:
    prompt_id: str
    server: str
    images: list[OutputImage]
    cached: list[str] = field(default_factory=list)
    executed: list[str] = field(default_factory=list)


def node_errors_message(body: dict[str, Any]) -> str:
    """ComfyUI's 400 body as one line: the error, then each node's errors with node id, class and input."""
    err = body.get("error")
    head = err.get("message", "refused") if isinstance(err, dict) else str(err or "refused")
    if isinstance(err, dict) and err.get("details"):
        head += f" ({str(err['details'])[:DETAIL_CHARS]})"
    parts: list[str] = []
    for node_id, ne in sorted((body.get("node_errors") or {}).items()):
        cls = ne.get("class_type", "?")
        for e in ne.get("errors", []):
            inp = (e.get("extra_info") or {}).get("input_name")
            where = f"node {node_id} ({cls})" + (f" input {inp!r}" if inp else "")
            detail = str(e.get("details") or "")[:DETAIL_CHARS]
            parts.append(f"{where}: {e.get('message', 'error')}" + (f": {detail}" if detail else ""))
    return head + (": " + "; ".join(parts) if parts else "")


class ComfyClient:
    def __init__(self, base_url: str, *, request_timeout: float = 30.0) -> None:
        self.base = base_url.rstrip("/")
        self.request_timeout = request_timeout
        self.client_id = uuid.uuid4().hex
        self._http: aiohttp.ClientSession | None = None

    def _session(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.request_timeout))
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    async def __aenter__(self) -> ComfyClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _request(self, method: str, path: str, **kw: Any) -> tuple[int, bytes]:
        try:
            async with self._session().request(method, self.base + path, **kw) as r:
                body = await r.content.read(MAX_BODY + 1)
                if len(body) > MAX_BODY:
                    raise ComfyError(f"ComfyUI at {self.base} answered {path} with more than {MAX_BODY} bytes")
                return r.status, body
        except (aiohttp.ClientError, TimeoutError, OSError) as e:
            raise ComfyUnavailableError(f"ComfyUI at {self.base} unreachable ({type(e).__name__}: {e})") from None

    async def _json(self, method: str, path: str, **kw: Any) -> Any:
        status, raw = await self._request(method, path, **kw)
        if status != 200:
            raise ComfyError(f"ComfyUI at {self.base} answered {path} with HTTP {status}: {raw[:200]!r}")
        try:
            return json.loads(raw)
        except ValueError:
            raise ComfyError(f"ComfyUI at {self.base} sent no JSON for {path}") from None

    async def object_info(self) -> dict[str, Any]:
        info = await self._json("GET", "/object_info")
        return info if isinstance(info, dict) else {}

    async def system_stats(self) -> dict[str, Any]:
        stats = await self._json("GET", "/system_stats")
        return stats if isinstance(stats, dict) else {}

    async def free_vram_gb(self) -> float | None:
        devices = (await self.system_stats()).get("devices") or []
        free = [d.get("vram_free") for d in devices if isinstance(d.get("vram_free"), int | float)]
        return max(free) / 2**30 if free else None

    async def upload_image(self, data: bytes, filename: str, subfolder: str = "hydra") -> str:
        """Upload to ComfyUI's input folder; returns the name a LoadImage ``image`` input takes."""
        form = aiohttp.FormData()
        form.add_field("image", data, filename=filename, content_type="image/png")
        form.add_field("subfolder", subfolder)
        form.add_field("overwrite", "true")
        out = await self._json("POST", "/upload/image", data=form)
        name, sub = out.get("name"), out.get("subfolder") or ""
        if not isinstance(name, str):
            raise ComfyError(f"ComfyUI at {self.base} answered the upload without a file name")
        return f"{sub}/{name}" if sub else name

    async def submit(self, workflow: dict[str, Any]) -> str:
        status, raw = await self._request("POST", "/prompt", json={"prompt": workflow, "client_id": self.client_id})
        try:
            body = json.loads(raw)
        except ValueError:
            body = {}
        if status == 400 and isinstance(body, dict):
            raise ComfyError(f"ComfyUI at {self.base} refused the workflow: {node_errors_message(body)}")
        if status != 200 or not isinstance(body, dict) or not isinstance(body.get("prompt_id"), str):
            raise ComfyError(f"ComfyUI at {self.base} answered /prompt with HTTP {status}: {raw[:200]!r}")
        if body.get("node_errors"):
            raise ComfyError(f"ComfyUI at {self.base} queued with errors: {node_errors_message(body)}")
        return str(body["prompt_id"])

    async def interrupt(self) -> None:
        await self._request("POST", "/interrupt", json={})

    async def view(self, img: OutputImage) -> bytes:
        q = urlencode({"filename": img.filename, "subfolder": img.subfolder, "type": img.type})
        status, raw = await self._request("GET", f"/view?{q}")
        if status != 200 or not raw:
            raise ComfyError(f"ComfyUI at {self.base} has no file {img.filename!r} (HTTP {status})")
        return raw

    async def history(self, prompt_id: str) -> dict[str, Any]:
        out = await self._json("GET", f"/history/{prompt_id}")
        entry = out.get(prompt_id) if isinstance(out, dict) else None
        return entry if isinstance(entry, dict) else {}

    async def run(self, workflow: dict[str, Any], output_node: str, timeout: float,
                  progress: Progress | None = None) -> RunResult:
        """Submit and follow the job over the WebSocket until it ends; the images of ``output_node``."""
        ws_url = self.base.replace("http", "ws", 1) + f"/ws?clientId={self.client_id}"
        try:
            async with asyncio.timeout(self.request_timeout):
                ws = await self._session().ws_connect(ws_url, heartbeat=30)
        except (aiohttp.ClientError, TimeoutError, OSError) as e:
            raise ComfyUnavailableError(f"ComfyUI at {self.base}: no WebSocket ({type(e).__name__})") from None
        async with ws:
            prompt_id = await self.submit(workflow)
            result = RunResult(prompt_id=prompt_id, server=self.base, images=[])
            try:
                async with asyncio.timeout(timeout):
                    await self._follow(ws, result, progress)
            except TimeoutError:
                await self._interrupt_quietly()
                raise ComfyUnavailableError(
                    f"ComfyUI at {self.base}: job {prompt_id} did not finish in {timeout:.0f}s (interrupted)") from None
        hist = await self.history(prompt_id)
        images = (hist.get("outputs", {}).get(output_node) or {}).get("images", [])
        result.images = [OutputImage(i["filename"], i.get("subfolder", ""), i.get("type", "output"), output_node)
                         for i in images if i.get("type", "output") == "output"]
        if not result.images:
            raise ComfyError(f"ComfyUI at {self.base}: job {prompt_id} finished without images from node {output_node}")
        return result

    async def _interrupt_quietly(self) -> None:
        try:
            async with asyncio.timeout(self.request_timeout):
                await self.interrupt()
        except (ComfyError, TimeoutError):
            pass  # the server is gone or stuck; the job failed either way

    async def _follow(self, ws: aiohttp.ClientWebSocketResponse, result: RunResult,
                      progress: Progress | None) -> None:
        async for msg in ws:
            if msg.type is not aiohttp.WSMsgType.TEXT:
                continue  # binary frames are previews
            m = json.loads(msg.data)
            kind, data = m.get("type"), m.get("data") or {}
            if data.get("prompt_id") not in (None, result.prompt_id):
                continue  # another client's job on a shared server
            if _handle(kind, data, result, progress):
                return
        raise ComfyUnavailableError(f"ComfyUI at {self.base} closed the WebSocket during job {result.prompt_id}")


def _handle(kind: str | None, data: dict[str, Any], result: RunResult, progress: Progress | None) -> bool:
    """One WebSocket message; True when the job is over (success), raises on failure."""
    if kind == "execution_cached":
        result.cached.extend(str(n) for n in data.get("nodes", []))
    elif kind == "executed":
        result.executed.append(str(data.get("node")))
    elif kind == "progress" and progress is not None:
        progress(int(data.get("value", 0)), int(data.get("max", 0)))
    elif kind == "execution_success":
        return True
    elif kind == "executing" and data.get("node") is None and data.get("prompt_id") == result.prompt_id:
        return True  # older servers end a job this way
    elif kind == "execution_error":
        why = str(data.get("exception_message", "")).strip()[:DETAIL_CHARS]
        raise ComfyError(f"ComfyUI at {result.server}: node {data.get('node_id')} ({data.get('node_type')}) failed: "
                         f"{data.get('exception_type')}: {why}")
    elif kind == "execution_interrupted":
        raise ComfyError(f"ComfyUI at {result.server}: job {result.prompt_id} was interrupted at node "
                         f"{data.get('node_id')} ({data.get('node_type')})")
    return False
