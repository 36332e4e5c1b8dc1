"""Voices: espeak-ng (local, no weights) and any OpenAI-compatible ``/v1/audio/speech`` server; each line
one WAV file, loudness-normalised, its duration recorded."""
