"""The two speech engines. Both return WAV bytes for one line.

- espeak-ng: a subprocess with an argument list (never a shell): ``-v`` voice (variant like
  ``en-gb+f3``), ``-s`` words per minute (175 x the character's speed), ``-p`` pitch 0-99, ``-w`` the
  WAV file; the text goes in on stdin (``--stdin``), so a line starting with ``-`` is never an option.
- OpenAI-compatible ``POST {base}/audio/speech`` (Kokoro-FastAPI, Speaches, openedai-speech, OpenAI):
  ``{"model", "input", "voice", "speed", "response_format": "wav"}``; the answer is the audio.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from pathlib import Path

import httpx

from pipelines.creative.errors import VoiceError
from pipelines.creative.model import Voice

ESPEAK_WPM = 175


async def espeak(text: str, voice: Voice, *, executable: str = "espeak-ng", timeout: float = 60.0) -> bytes:
    fd, tmp = tempfile.mkstemp(suffix=".wav")
    os.close(fd)
    args = [executable, "-v", voice.voice, "-s", str(round(ESPEAK_WPM * voice.speed)), "-p", str(voice.pitch),
            "-w", tmp, "--stdin"]
    try:
        try:
            proc = await asyncio.create_subprocess_exec(*args, stdin=asyncio.subprocess.PIPE,
                                                        stdout=asyncio.subprocess.DEVNULL,
                                                        stderr=asyncio.subprocess.PIPE)
        except FileNotFoundError:
            raise VoiceError(f"{executable} is not installed (Debian/NixOS package espeak-ng)") from None
        try:
            async with asyncio.timeout(timeout):
                _, err = await proc.communicate(text.encode())
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise VoiceError(f"espeak-ng took longer than {timeout:.0f}s") from None
        if proc.returncode != 0:
            raise VoiceError(f"espeak-ng exited {proc.returncode}: {err.decode(errors='replace').strip()[:200]}")
        data = await asyncio.to_thread(Path(tmp).read_bytes)
    finally:
        await asyncio.to_thread(Path(tmp).unlink, missing_ok=True)
    if not data.startswith(b"RIFF"):
        raise VoiceError(f"espeak-ng wrote no WAV for voice {voice.voice!r}")
    return data


async def openai_speech(http: httpx.AsyncClient, base_url: str, model: str, text: str, voice: Voice) -> bytes:
    url = base_url.rstrip("/") + "/audio/speech"
    body = {"model": model, "input": text, "voice": voice.voice, "speed": voice.speed, "response_format": "wav"}
    try:
        r = await http.post(url, json=body)
    except httpx.HTTPError as e:
        raise VoiceError(f"speech server {url} unreachable ({type(e).__name__})") from None
    if r.status_code != 200:
        try:
            detail = r.json().get("error", {}).get("message") or r.text[:200]
        except ValueError:
            detail = r.text[:200]
        raise VoiceError(f"speech server {url} answered HTTP {r.status_code}: {detail}")
    if not r.content.startswith(b"RIFF"):
        raise VoiceError(f"speech server {url} sent no WAV (content-type {r.headers.get('content-type')})")
    return r.content
