"""WAV checks and loudness normalisation (stdlib ``wave`` + numpy).

Normalisation is RMS-based: every line is scaled so its RMS level is ``target_dbfs`` (dB relative to
full scale), limited so no sample peaks above ``peak_dbfs`` — a quiet engine and a loud one end up
equally loud in the game. 16-bit PCM only (what espeak-ng and the speech servers' ``wav`` give).
"""

from __future__ import annotations

import io
import wave
from dataclasses import dataclass

import numpy as np

from pipelines.creative.errors import VoiceError

FULL_SCALE = 32767.0


@dataclass(frozen=True)
class Audio:
    data: bytes
    seconds: float
    rms_dbfs: float
    peak_dbfs: float


def _db(x: float) -> float:
    return float(20 * np.log10(max(x, 1e-9) / FULL_SCALE))


def normalise(wav_bytes: bytes, target_dbfs: float = -20.0, peak_dbfs: float = -1.0) -> Audio:
    try:
        with wave.open(io.BytesIO(wav_bytes)) as w:
            params = w.getparams()
            frames = w.readframes(params.nframes)
    except (wave.Error, EOFError) as e:
        raise VoiceError(f"not a WAV file ({e})") from None
    if params.sampwidth != 2:
        raise VoiceError(f"expected 16-bit PCM WAV, got {8 * params.sampwidth}-bit")
    samples = np.frombuffer(frames, dtype="<i2").astype(np.float64)
    if samples.size == 0:
        raise VoiceError("the WAV file has no samples")
    rms = float(np.sqrt(np.mean(samples**2)))
    peak = float(np.max(np.abs(samples)))
    if rms < 1.0:
        raise VoiceError("the audio is silent")
    gain = min(10 ** ((target_dbfs - _db(rms)) / 20), 10 ** ((peak_dbfs - _db(peak)) / 20))
    out = np.clip(np.round(samples * gain), -32768, 32767).astype("<i2")
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(params.nchannels)
        w.setsampwidth(2)
        w.setframerate(params.framerate)
        w.writeframes(out.tobytes())
    seconds = params.nframes / params.framerate
    level = out.astype(np.float64)
    return Audio(buf.getvalue(), seconds, _db(float(np.sqrt(np.mean(level**2)))), _db(float(np.max(np.abs(level)))))
