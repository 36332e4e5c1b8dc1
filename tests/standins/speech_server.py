"""A stand-in OpenAI-compatible speech server (what Kokoro-FastAPI, Speaches or openedai-speech look like
at the HTTP boundary): ``POST /v1/audio/speech {"model", "input", "voice", "speed", "response_format"}``
answers real WAV bytes (16-bit mono 24 kHz, a tone whose length follows the text and the speed);
a missing field or an unknown voice is a 400/422 in OpenAI's error shape. ``requests`` logs the bodies.
"""

from __future__ import annotations

import io
import math
import wave
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from aiohttp import web

from tests.standins.aio import AioStandin

VOICES = {"af_bella", "am_adam", "bf_emma"}
RATE = 24_000


def tone_wav(seconds: float, amplitude: float = 0.1, freq: float = 220.0) -> bytes:
    n = max(1, int(seconds * RATE))
    frames = (amplitude * 32767 * np.sin(2 * math.pi * freq * np.arange(n) / RATE)).astype("<i2").tobytes()
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(frames)
    return buf.getvalue()


def _error(status: int, message: str, param: str | None = None) -> web.Response:
    return web.json_response({"error": {"message": message, "type": "invalid_request_error", "param": param,
                                        "code": None}}, status=status)


@dataclass
class SpeechStandin(AioStandin):
    host: str = "127.0.0.1"
    port: int = 0
    token: str | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    _runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def app(self) -> web.Application:
        a = web.Application()
        a.router.add_post("/v1/audio/speech", self._speech)
        return a

    async def _speech(self, request: web.Request) -> web.Response:
        if self.token and request.headers.get("Authorization") != f"Bearer {self.token}":
            return _error(401, "Incorrect API key provided")
        body = await request.json()
        self.requests.append(body)
        for name in ("model", "input", "voice"):
            if not isinstance(body.get(name), str) or not body[name]:
                return _error(400, f"Missing required parameter: '{name}'.", name)
        if body["voice"] not in VOICES:
            return _error(400, f"Voice '{body['voice']}' not found. Available: {sorted(VOICES)}", "voice")
        speed = float(body.get("speed", 1.0))
        if not 0.25 <= speed <= 4.0:
            return _error(422, "speed must be between 0.25 and 4.0", "speed")
        if body.get("response_format", "mp3") != "wav":
            return _error(400, "this stand-in only makes wav", "response_format")
        seconds = 0.06 * len(body["input"]) / speed
        return web.Response(body=tone_wav(seconds), content_type="audio/wav")
