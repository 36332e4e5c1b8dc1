"""Voice every spoken line of a scene: one WAV per line under ``audio/voice/``, normalised, timed.

A file's name carries a hash of its text and voice settings, so a rerun (after a killed worker)
reuses what is already on disk and a changed line or voice gets a new file.
"""

from __future__ import annotations

import asyncio
import hashlib
import wave
from dataclasses import dataclass
from pathlib import Path

import httpx

from hydra_os.secrets import read_secret_file
from memory.core.atomic import atomic_write
from pipelines.creative.errors import VoiceError
from pipelines.creative.model import Project, Scene, Voice, VoiceEngine
from pipelines.creative.voice.engines import espeak, openai_speech
from pipelines.creative.voice.wav import normalise
from pipelines.creative_config import CreativeConfig

VOICE_DIR = Path("audio") / "voice"


@dataclass(frozen=True)
class VoicedLine:
    line: str
    path: str  # relative to the project folder
    seconds: float
    reused: bool


def _seconds(path: Path) -> float:
    with wave.open(str(path)) as w:
        return round(float(w.getnframes()) / float(w.getframerate()), 3)


class Voicer:
    def __init__(self, cfg: CreativeConfig) -> None:
        self.cfg = cfg
        token = read_secret_file(cfg.speech_api_key_file, "creative.speech_api_key_file") \
            if cfg.speech_api_key_file else None
        self._http = httpx.AsyncClient(timeout=cfg.speech_timeout_s,
                                       headers={"Authorization": f"Bearer {token}"} if token else {})

    async def close(self) -> None:
        await self._http.aclose()

    async def speak(self, text: str, voice: Voice) -> bytes:
        if voice.engine is VoiceEngine.OPENAI:
            if self.cfg.speech_url is None:
                raise VoiceError("voice.engine is 'openai' but [creative] speech_url is not set")
            return await openai_speech(self._http, self.cfg.speech_url, self.cfg.speech_model, text, voice)
        return await espeak(text, voice, executable=self.cfg.espeak_path, timeout=self.cfg.speech_timeout_s)

    async def scene(self, project: Project, scene: Scene, project_dir: Path) -> list[VoicedLine]:
        out: list[VoicedLine] = []
        for line in scene.lines:
            if line.speaker is None:
                continue  # narration is not voiced
            voice = project.characters[line.speaker].voice
            tag = hashlib.sha256(f"{line.text}\0{voice.model_dump_json()}".encode()).hexdigest()[:10]
            rel = VOICE_DIR / f"{scene.id}_{line.id}_{tag}.wav"
            path = project_dir / rel
            if await asyncio.to_thread(path.is_file):
                out.append(VoicedLine(line.id, str(rel), await asyncio.to_thread(_seconds, path), True))
                continue
            try:
                audio = normalise(await self.speak(line.text, voice), self.cfg.target_dbfs)
            except VoiceError as e:
                raise VoiceError(f"scene {scene.id} line {line.id} ({line.speaker}): {e}") from None
            await asyncio.to_thread(_write, path, audio.data)
            out.append(VoicedLine(line.id, str(rel), round(audio.seconds, 3), False))
        return out


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, data)
