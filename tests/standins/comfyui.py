"""A ComfyUI stand-in: the HTTP + WebSocket protocol of ComfyUI's ``server.py`` and ``execution.py``,
without a GPU.

- ``GET /object_info``: the node classes it "has installed" (core nodes plus ComfyUI_IPAdapter_plus'
  FaceID nodes), with required/optional inputs and combo lists (checkpoints, LoRAs, uploaded images).
- ``POST /prompt {"prompt", "client_id"}``: validated like ``execution.validate_prompt``: an unknown
  class is a 400 ``invalid_prompt``; a missing required input, a combo value not in its list or a link
  to a missing node become ``node_errors`` (``{node: {"errors": [{type, message, details,
  extra_info: {input_name}}], "dependent_outputs", "class_type"}}``) under ``error`` type
  ``prompt_outputs_failed_validation``; a workflow without an output node is ``prompt_no_outputs``.
  Accepted: ``{"prompt_id", "number", "node_errors": {}}`` and the job runs.
- ``GET /ws?clientId=``: ``status`` on connect, then per job ``execution_start``, ``execution_cached``,
  ``executing`` per node, ``progress`` for samplers, ``executed`` (with the images) for output nodes,
  ``execution_success`` and the final ``executing`` with ``node: null``; or ``execution_error`` /
  ``execution_interrupted``.
- ``GET /history/{id}``, ``GET /view?filename=&subfolder=&type=`` (real PNG bytes, their colour
  derived from the seed), ``POST /upload/image`` (multipart ``image``, ``subfolder``, ``overwrite``),
  ``POST /interrupt``, ``GET /system_stats``.

Behaviour set by attributes: ``fail_next`` (that many jobs end in ``execution_error``), ``stall``
(jobs start and never end), ``die_after`` (after that many finished jobs the next one starts and the
server goes away: sockets closed, port shut), ``step_delay`` (seconds per sampler step),
``vram_free_gb`` (what ``/system_stats`` reports free).
"""

from __future__ import annotations

import asyncio
import itertools
import struct
import time
import uuid
import zlib
from dataclasses import dataclass, field
from typing import Any, ClassVar

from aiohttp import WSMsgType, web

from tests.standins.aio import AioStandin

CKPTS = ["sd_xl_base_1.0.safetensors", "juggernautXL_v9.safetensors"]
LORAS = ["aria_v1.safetensors", "zoe_v2.safetensors"]


def png_bytes(seed: int, width: int = 64, height: int = 64) -> bytes:
    """A real PNG (8-bit RGB), one colour from ``seed`` with a gradient, so different seeds differ."""
    r, g, b = (seed * 97) % 256, (seed * 57 + 80) % 256, (seed * 31 + 160) % 256
    rows = b"".join(b"\x00" + bytes((r, (g + y) % 256, b)) * width for y in range(height))

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))


def _ms() -> int:
    return int(time.time() * 1000)


def _inp(kind: Any, **opts: Any) -> list[Any]:
    return [kind, opts]


@dataclass
class ComfyStandin(AioStandin):
    runner_options: ClassVar[dict[str, Any]] = {"shutdown_timeout": 0.2, "access_log": None}

    host: str = "127.0.0.1"
    port: int = 0
    fail_next: int = 0
    stall: bool = False
    die_after: int | None = None
    step_delay: float = 0.0
    steps: int = 3
    vram_free_gb: float = 20.0
    full_size: bool = False  # images of the workflow's EmptyLatentImage size, as ComfyUI makes them (else 64x64)
    prompts: list[dict[str, Any]] = field(default_factory=list)  # every accepted workflow, in order
    finished: int = 0
    uploads: dict[str, bytes] = field(default_factory=dict)
    files: dict[tuple[str, str, str], bytes] = field(default_factory=dict)
    history: dict[str, Any] = field(default_factory=dict)
    dead: bool = False
    _runner: web.AppRunner | None = None
    _sockets: dict[str, web.WebSocketResponse] = field(default_factory=dict)
    _queue: asyncio.Queue[tuple[str, int, dict[str, Any], str]] = field(default_factory=asyncio.Queue)
    _counter: itertools.count[int] = field(default_factory=itertools.count)
    _interrupt: asyncio.Event = field(default_factory=asyncio.Event)
    _worker: asyncio.Task[None] | None = None

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def object_info(self) -> dict[str, Any]:
        images = sorted(self.uploads) or ["example.png"]
        spec: dict[str, dict[str, dict[str, Any]]] = {
            "CheckpointLoaderSimple": {"required": {"ckpt_name": _inp(CKPTS)}},
            "LoraLoader": {"required": {"model": _inp("MODEL"), "clip": _inp("CLIP"), "lora_name": _inp(LORAS),
                                        "strength_model": _inp("FLOAT", default=1.0, min=-100, max=100),
                                        "strength_clip": _inp("FLOAT", default=1.0, min=-100, max=100)}},
            "EmptyLatentImage": {"required": {"width": _inp("INT", default=512), "height": _inp("INT", default=512),
                                              "batch_size": _inp("INT", default=1, min=1, max=4096)}},
            "CLIPTextEncode": {"required": {"text": _inp("STRING", multiline=True), "clip": _inp("CLIP")}},
            "KSampler": {"required": {k: _inp(t) for k, t in (
                ("model", "MODEL"), ("seed", "INT"), ("steps", "INT"), ("cfg", "FLOAT"),
                ("sampler_name", ["euler", "dpmpp_2m", "dpmpp_2m_sde"]),
                ("scheduler", ["normal", "karras"]), ("positive", "CONDITIONING"),
                ("negative", "CONDITIONING"), ("latent_image", "LATENT"), ("denoise", "FLOAT"))}},
            "VAEDecode": {"required": {"samples": _inp("LATENT"), "vae": _inp("VAE")}},
            "SaveImage": {"required": {"images": _inp("IMAGE"), "filename_prefix": _inp("STRING")}},
            "LoadImage": {"required": {"image": _inp(images, image_upload=True)}},
            "IPAdapterUnifiedLoaderFaceID": {"required": {
                "model": _inp("MODEL"), "preset": _inp(["FACEID", "FACEID PLUS - SD1.5 only", "FACEID PLUS V2"]),
                "lora_strength": _inp("FLOAT"), "provider": _inp(["CPU", "CUDA", "ROCM"])},
                "optional": {"ipadapter": _inp("IPADAPTER")}},
            "IPAdapterFaceID": {"required": {k: _inp(t) for k, t in (
                ("model", "MODEL"), ("ipadapter", "IPADAPTER"), ("image", "IMAGE"), ("weight", "FLOAT"),
                ("weight_faceidv2", "FLOAT"), ("weight_type", ["linear", "ease in", "style transfer"]),
                ("combine_embeds", ["concat", "add", "average"]), ("start_at", "FLOAT"), ("end_at", "FLOAT"),
                ("embeds_scaling", ["V only", "K+V"]))},
                "optional": {"image_negative": _inp("IMAGE"), "attn_mask": _inp("MASK"),
                             "clip_vision": _inp("CLIP_VISION"), "insightface": _inp("INSIGHTFACE")}},
        }
        outputs = {"SaveImage"}
        return {name: {"input": inputs, "output_node": name in outputs, "name": name, "display_name": name,
                       "category": "standin"} for name, inputs in spec.items()}

    def app(self) -> web.Application:
        a = web.Application(client_max_size=64 * 2**20)
        a.router.add_get("/object_info", self._object_info)
        a.router.add_get("/system_stats", self._stats)
        a.router.add_post("/prompt", self._prompt)
        a.router.add_get("/ws", self._ws)
        a.router.add_get("/history/{id}", self._history)
        a.router.add_get("/view", self._view)
        a.router.add_post("/upload/image", self._upload)
        a.router.add_post("/interrupt", self._interrupt_h)
        a.on_shutdown.append(self._close_sockets)
        return a

    async def start(self) -> ComfyStandin:
        await super().start()
        self._worker = asyncio.create_task(self._run_jobs())
        return self

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            self._worker = None
        await super().stop()

    async def _close_sockets(self, _: web.Application) -> None:
        for ws in list(self._sockets.values()):
            await ws.close()

    async def _object_info(self, _: web.Request) -> web.Response:
        return web.json_response(self.object_info())

    async def _stats(self, _: web.Request) -> web.Response:
        gib = 2**30
        return web.json_response({
            "system": {"os": "posix", "python_version": "3.11", "comfyui_version": "standin", "ram_total": 64 * gib,
                       "ram_free": 48 * gib},
            "devices": [{"name": "cuda:0 Stand-in GPU", "type": "cuda", "index": 0, "vram_total": 24 * gib,
                         "vram_free": int(self.vram_free_gb * gib), "torch_vram_total": 2 * gib,
                         "torch_vram_free": gib}]})

    def validate(self, prompt: dict[str, Any]) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        """(error, node_errors) as ``execution.validate_prompt`` shapes them."""
        info = self.object_info()
        for node_id, node in prompt.items():
            if not isinstance(node, dict) or "class_type" not in node:
                return {"type": "invalid_prompt", "message": "Cannot execute because a node is missing the "
                        "class_type property.", "details": f"Node ID '#{node_id}'", "extra_info": {}}, {}
            if node["class_type"] not in info:
                return {"type": "invalid_prompt", "message": f"Cannot execute because node {node['class_type']} "
                        "does not exist.", "details": f"Node ID '#{node_id}'", "extra_info": {}}, {}
        outputs = [n for n, v in prompt.items() if info[v["class_type"]]["output_node"]]
        if not outputs:
            return {"type": "prompt_no_outputs", "message": "Prompt has no outputs", "details": "",
                    "extra_info": {}}, {}
        node_errors: dict[str, Any] = {}
        for node_id, node in prompt.items():
            errors = self._node_errors(prompt, node, info[node["class_type"]]["input"])
            if errors:
                node_errors[node_id] = {"errors": errors, "dependent_outputs": outputs,
                                        "class_type": node["class_type"]}
        if node_errors:
            return {"type": "prompt_outputs_failed_validation", "message": "Prompt outputs failed validation",
                    "details": "", "extra_info": {}}, node_errors
        return None, {}

    @staticmethod
    def _node_errors(prompt: dict[str, Any], node: dict[str, Any], spec: dict[str, Any]) -> list[dict[str, Any]]:
        errors = []
        inputs = node.get("inputs", {})
        for name, (kind, *_) in spec.get("required", {}).items():
            if name not in inputs:
                errors.append({"type": "required_input_missing", "message": "Required input is missing",
                               "details": name, "extra_info": {"input_name": name}})
                continue
            v = inputs[name]
            if isinstance(v, list) and len(v) == 2 and isinstance(v[0], str):
                if v[0] not in prompt:
                    errors.append({"type": "bad_linked_input", "message": "Bad linked input, must be a length-2 "
                                   "list of [string, int]", "details": f"{name}, {v}",
                                   "extra_info": {"input_name": name, "received_value": v}})
            elif isinstance(kind, list) and v not in kind:
                errors.append({"type": "value_not_in_list", "message": "Value not in list",
                               "details": f"{name}: '{v}' not in {kind}",
                               "extra_info": {"input_name": name, "input_config": [kind, {}],
                                              "received_value": v}})
        return errors

    async def _prompt(self, request: web.Request) -> web.Response:
        body = await request.json()
        prompt = body.get("prompt")
        if not isinstance(prompt, dict):
            return web.json_response({"error": {"type": "no_prompt", "message": "No prompt provided", "details":
                                                "No prompt provided", "extra_info": {}}, "node_errors": {}}, status=400)
        error, node_errors = self.validate(prompt)
        if error is not None:
            return web.json_response({"error": error, "node_errors": node_errors}, status=400)
        prompt_id = str(uuid.uuid4())
        number = next(self._counter)
        self.prompts.append(prompt)
        await self._queue.put((prompt_id, number, prompt, str(body.get("client_id", ""))))
        return web.json_response({"prompt_id": prompt_id, "number": number, "node_errors": {}})

    async def _ws(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        sid = request.query.get("clientId") or uuid.uuid4().hex
        self._sockets[sid] = ws
        await ws.send_json({"type": "status", "data": {"status": {"exec_info": {
            "queue_remaining": self._queue.qsize()}}, "sid": sid}})
        try:
            async for msg in ws:
                if msg.type is WSMsgType.ERROR:
                    break
        finally:
            if self._sockets.get(sid) is ws:
                del self._sockets[sid]
        return ws

    async def _send(self, sid: str, kind: str, data: dict[str, Any]) -> None:
        ws = self._sockets.get(sid)
        if ws is not None and not ws.closed:
            await ws.send_json({"type": kind, "data": data})

    async def _run_jobs(self) -> None:
        while True:
            prompt_id, number, prompt, sid = await self._queue.get()
            await self._execute(prompt_id, number, prompt, sid)

    async def _execute(self, prompt_id: str, number: int, prompt: dict[str, Any], sid: str) -> None:
        self._interrupt.clear()
        messages: list[list[Any]] = [["execution_start", {"prompt_id": prompt_id, "timestamp": _ms()}]]
        await self._send(sid, "execution_start", messages[0][1])
        await self._send(sid, "execution_cached", {"nodes": [], "prompt_id": prompt_id, "timestamp": _ms()})
        if self.die_after is not None and self.finished >= self.die_after:
            self.dead = True
            asyncio.get_running_loop().call_soon(lambda: asyncio.ensure_future(self._die()))
            return
        outputs: dict[str, Any] = {}
        seed = next((n["inputs"]["seed"] for n in prompt.values() if n["class_type"] == "KSampler"), 0)
        for node_id, node in prompt.items():
            await self._send(sid, "executing", {"node": node_id, "display_node": node_id, "prompt_id": prompt_id})
            if node["class_type"] == "KSampler":
                if self.fail_next > 0:
                    self.fail_next -= 1
                    await self._send(sid, "execution_error", {
                        "prompt_id": prompt_id, "node_id": node_id, "node_type": "KSampler", "executed": [],
                        "exception_message": "CUDA out of memory. Tried to allocate 2.00 GiB",
                        "exception_type": "torch.OutOfMemoryError", "traceback": [], "current_inputs": {},
                        "current_outputs": {}, "timestamp": _ms()})
                    self._record(prompt_id, number, prompt, {}, "error")
                    return
                for step in range(1, self.steps + 1):
                    if self.stall:
                        await self._interrupt.wait()  # hangs until someone interrupts
                    if self._interrupt.is_set():
                        await self._send(sid, "execution_interrupted", {
                            "prompt_id": prompt_id, "node_id": node_id, "node_type": "KSampler", "executed": [],
                            "timestamp": _ms()})
                        self._record(prompt_id, number, prompt, {}, "error")
                        return
                    await asyncio.sleep(self.step_delay)
                    await self._send(sid, "progress", {"value": step, "max": self.steps, "prompt_id": prompt_id,
                                                       "node": node_id})
            if node["class_type"] == "SaveImage":
                latent: dict[str, Any] = next((n["inputs"] for n in prompt.values()
                                               if n["class_type"] == "EmptyLatentImage"), {})
                batch = latent.get("batch_size", 1)
                size = (latent.get("width", 64), latent.get("height", 64)) if self.full_size else (64, 64)
                images = []
                for i in range(batch):
                    name = f"{node['inputs']['filename_prefix']}_{number:05d}_{i}_.png"
                    self.files[(name, "", "output")] = png_bytes(int(seed) + i, *size)
                    images.append({"filename": name, "subfolder": "", "type": "output"})
                outputs[node_id] = {"images": images}
                await self._send(sid, "executed", {"node": node_id, "display_node": node_id,
                                                   "output": {"images": images}, "prompt_id": prompt_id})
        self.finished += 1
        self._record(prompt_id, number, prompt, outputs, "success")
        await self._send(sid, "execution_success", {"prompt_id": prompt_id, "timestamp": _ms()})
        await self._send(sid, "executing", {"node": None, "prompt_id": prompt_id})

    def _record(self, prompt_id: str, number: int, prompt: dict[str, Any], outputs: dict[str, Any],
                status: str) -> None:
        self.history[prompt_id] = {
            "prompt": [number, prompt_id, prompt, {"client_id": ""}, list(outputs)],
            "outputs": outputs,
            "status": {"status_str": status, "completed": status == "success", "messages": []},
            "meta": {n: {"node_id": n, "display_node": n} for n in outputs}}

    async def _die(self) -> None:
        for ws in list(self._sockets.values()):
            await ws.close()
        await super().stop()

    async def _history(self, request: web.Request) -> web.Response:
        pid = request.match_info["id"]
        return web.json_response({pid: self.history[pid]} if pid in self.history else {})

    async def _view(self, request: web.Request) -> web.Response:
        q = request.query
        key = (q.get("filename", ""), q.get("subfolder", ""), q.get("type", "output"))
        data = self.files.get(key)
        if data is None and key[2] == "input":
            data = self.uploads.get(f"{key[1]}/{key[0]}" if key[1] else key[0])
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="image/png")

    async def _upload(self, request: web.Request) -> web.Response:
        form = await request.post()
        image = form.get("image")
        if not isinstance(image, web.FileField):
            return web.Response(status=400)
        sub = str(form.get("subfolder", ""))
        name = image.filename
        data = image.file.read()
        self.uploads[f"{sub}/{name}" if sub else name] = data
        return web.json_response({"name": name, "subfolder": sub, "type": "input"})

    async def _interrupt_h(self, _: web.Request) -> web.Response:
        self._interrupt.set()
        return web.Response(status=200)
