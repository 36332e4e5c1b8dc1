"""A stand-in image-embedding server in Infinity's shape (``POST /embeddings`` with ``{"model", "input":
[image URLs or data URIs], "modality": "image"}`` -> OpenAI's ``{"data": [{"index", "embedding"}]}``).

The "embedding" of a PNG is its mean RGB colour (the PNG is really decoded: zlib, filters of type 0),
so similar-looking images from the ComfyUI stand-in score close and different seeds score apart.
``fail`` answers 503.
"""

from __future__ import annotations

import base64
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from aiohttp import web

from tests.standins.aio import AioStandin


def mean_rgb(png: bytes) -> list[float]:
    pos, idat, width = 8, b"", 0
    while pos < len(png):
        (n,) = struct.unpack(">I", png[pos:pos + 4])
        tag, data = png[pos + 4:pos + 8], png[pos + 8:pos + 8 + n]
        if tag == b"IHDR":
            width = struct.unpack(">I", data[:4])[0]
        elif tag == b"IDAT":
            idat += data
        pos += 12 + n
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(-1, 1 + 3 * width)[:, 1:]
    return [float(v) for v in raw.reshape(-1, 3).mean(axis=0)]


@dataclass
class ImageEmbedStandin(AioStandin):
    host: str = "127.0.0.1"
    port: int = 0
    fail: bool = False
    requests: list[dict[str, Any]] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def app(self) -> web.Application:
        a = web.Application(client_max_size=64 * 2**20)
        a.router.add_post("/embeddings", self._embed)
        return a

    async def _embed(self, request: web.Request) -> web.Response:
        if self.fail:
            return web.json_response({"error": {"message": "model loading"}}, status=503)
        body = await request.json()
        self.requests.append({"model": body.get("model"), "modality": body.get("modality"), "n": len(body["input"])})
        if body.get("modality") != "image":
            return web.json_response({"error": {"message": "modality must be image"}}, status=400)
        data = [{"object": "embedding", "index": i,
                 "embedding": mean_rgb(base64.b64decode(uri.split(",", 1)[1]))} for i, uri in enumerate(body["input"])]
        return web.json_response({"object": "list", "data": data, "model": body.get("model")})
