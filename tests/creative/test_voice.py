"""Voices: real espeak-ng (per-character voice, speed, pitch), the OpenAI speech path against a stand-in
returning real WAV bytes, loudness normalisation and durations, reuse on rerun."""

from __future__ import annotations

import io
import shutil
import wave
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from pipelines.creative.errors import VoiceError
from pipelines.creative.model import Line, Voice, VoiceEngine
from pipelines.creative.ops import CharacterPut
from pipelines.creative.service import CreativeService
from pipelines.creative.voice.engines import espeak
from pipelines.creative.voice.lines import Voicer
from pipelines.creative.voice.wav import normalise
from pipelines.creative_config import CreativeConfig
from tests.creative.conftest import make_project
from tests.standins.speech_server import SpeechStandin, tone_wav

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")


def level(data: bytes) -> tuple[float, float]:
    """(RMS dBFS, seconds)"""
    return levels(data)[:2]


def levels(data: bytes) -> tuple[float, float, float]:
    """(RMS dBFS, seconds, peak dBFS)"""
    with wave.open(io.BytesIO(data)) as w:
        s = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)
    return (20 * np.log10(np.sqrt(np.mean(s**2)) / 32767), w.getnframes() / w.getframerate(),
            20 * np.log10(np.max(np.abs(s)) / 32767))


@pytest.fixture
async def speech() -> AsyncIterator[SpeechStandin]:
    async with SpeechStandin(token="sp-secret") as s:
        yield s


@needs_espeak
async def test_espeak_speed_and_pitch_change_the_audio() -> None:
    text = "The crown is broken, and so is the empire."
    slow = await espeak(text, Voice(voice="en-gb+f3", speed=0.8, pitch=60))
    fast = await espeak(text, Voice(voice="en-gb+f3", speed=1.6, pitch=60))
    low = await espeak(text, Voice(voice="en-gb+f3", speed=1.0, pitch=10))
    high = await espeak(text, Voice(voice="en-gb+f3", speed=1.0, pitch=90))
    assert level(slow)[1] > 1.5 * level(fast)[1]
    assert low != high and slow.startswith(b"RIFF")


@needs_espeak
async def test_espeak_reads_text_that_looks_like_an_option_and_refuses_an_unknown_voice() -> None:
    data = await espeak("--help -w /etc/passwd", Voice())
    assert level(data)[1] > 0.5
    with pytest.raises(VoiceError, match="espeak-ng"):
        await espeak("hello", Voice(voice="xx-nonexistent"))


def test_normalisation_brings_quiet_and_loud_to_the_same_level() -> None:
    quiet, loud = normalise(tone_wav(0.5, 0.01), -20), normalise(tone_wav(0.5, 0.9), -20)
    assert abs(level(quiet.data)[0] - -20) < 0.2 and abs(level(loud.data)[0] - -20) < 0.2
    assert quiet.seconds == pytest.approx(0.5, abs=0.01) and quiet.peak_dbfs <= -1.0
    with pytest.raises(VoiceError, match="silent"):
        normalise(tone_wav(0.2, 0.0))
    with pytest.raises(VoiceError, match="not a WAV"):
        normalise(b"ID3 mp3 bytes")


@needs_espeak
async def test_a_scene_is_voiced_line_by_line_and_a_rerun_reuses_the_files(
        service: CreativeService, speech: SpeechStandin, tmp_path: Path) -> None:
    await make_project(service)
    zoe = (await service.get("ebq")).characters["zoe"]
    body = zoe.model_dump(exclude={"id"}) | {"voice": Voice(engine=VoiceEngine.OPENAI, voice="bf_emma", speed=1.2)}
    await service.put_character(CharacterPut.model_validate({"project": "ebq", "id": "zoe", "character": body}))
    p = await service.get("ebq")
    scene = p.scenes["s1"].model_copy(update={"lines": [
        Line(id="l1", speaker="aria", text="Who goes there?"), Line(id="l2", speaker=None, text="Silence."),
        Line(id="l3", speaker="zoe", text="Only a thief, Your Majesty.")]})
    key = tmp_path / "speech.key"
    key.write_text("sp-secret\n")
    key.chmod(0o600)
    cfg = CreativeConfig(speech_url=speech.base_url, speech_api_key_file=key, target_dbfs=-18)
    voicer = Voicer(cfg)
    try:
        voiced = await voicer.scene(p, scene, tmp_path / "proj")
        again = await voicer.scene(p, scene, tmp_path / "proj")
    finally:
        await voicer.close()
    assert [v.line for v in voiced] == ["l1", "l3"] and not any(v.reused for v in voiced)
    assert all(v.reused for v in again) and [v.seconds for v in again] == pytest.approx([v.seconds for v in voiced])
    assert speech.requests == [{"model": "kokoro", "input": "Only a thief, Your Majesty.", "voice": "bf_emma",
                                "speed": 1.2, "response_format": "wav"}]
    for v in voiced:
        rms, seconds, peak = levels((tmp_path / "proj" / v.path).read_bytes())
        # at the RMS target, or as close as the -1 dBFS peak limit allows (espeak-ng's speech is peaky)
        assert abs(rms - -18) < 0.3 or (rms < -18 and abs(peak - -1) < 0.1)
        assert seconds == pytest.approx(v.seconds, abs=0.01) and seconds > 0.3


async def test_the_speech_server_refusing_a_voice_is_a_clear_error(speech: SpeechStandin, tmp_path: Path) -> None:
    key = tmp_path / "k"
    key.write_text("sp-secret")
    key.chmod(0o600)
    voicer = Voicer(CreativeConfig(speech_url=speech.base_url, speech_api_key_file=key))
    try:
        with pytest.raises(VoiceError, match="Voice 'nobody' not found"):
            await voicer.speak("hi", Voice(engine=VoiceEngine.OPENAI, voice="nobody"))
    finally:
        await voicer.close()
    without = Voicer(CreativeConfig())
    try:
        with pytest.raises(VoiceError, match="speech_url is not set"):
            await without.speak("hi", Voice(engine=VoiceEngine.OPENAI, voice="af_bella"))
    finally:
        await without.close()
