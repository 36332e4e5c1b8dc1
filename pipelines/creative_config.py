"""``[creative]``: where projects live, the ComfyUI servers, voices, the dialogue model and the scorer.

A module of its own beside ``pipelines/creative/``, not inside it: ``hydra_os.config`` imports it, and
the creative package imports ``hydra_os`` packages that import ``hydra_os.config``, so inside the package
it would tie the two into an import cycle.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hydra_os.durations import Seconds


def _http(v: str | None) -> str | None:
    if v is not None and not v.startswith(("http://", "https://")):
        raise ValueError(f"expected an http(s) URL, got {v!r}")
    return v.rstrip("/") if v else v


class CreativeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    enabled: bool = Field(default=True, description="Serve /v1/creative/* and run the creative task kinds.")
    root: Path | None = Field(default=None, description="Where projects are kept; default <state_dir>/creative.")
    templates_dir: Path | None = Field(
        default=None, description="The owner's workflow templates (<name>.json + <name>.toml); default: shipped.")
    comfyui_urls: list[str] = Field(default_factory=list, description="ComfyUI servers (one per GPU) sharing a batch.")
    comfyui_timeout_s: Seconds = Field(default=600.0, description="Seconds one image may take before it fails.")
    comfyui_request_timeout_s: Seconds = Field(default=30.0, description="Seconds per ComfyUI HTTP request.")
    vram_gb: float = Field(default=8.0, ge=0, le=1024,
                           description="Free VRAM (GB, from /system_stats) a ComfyUI server needs to take jobs.")
    model: str = Field(default="hydra/auto", description="Chat model that writes dialogue.")
    dialogue_retries: int = Field(default=2, ge=0, le=10, description="Retries of a rejected dialogue reply.")
    espeak_path: str = Field(default="espeak-ng", description="The espeak-ng executable.")
    speech_url: str | None = Field(
        default=None, description="OpenAI-compatible base URL (…/v1) for /audio/speech; unset: espeak-ng only.")
    speech_model: str = Field(default="kokoro", description="Model name sent to the speech server.")
    speech_api_key_file: Path | None = Field(default=None, description="Bearer token file for the speech server.")
    speech_timeout_s: Seconds = Field(default=60.0, description="Seconds per speech request or espeak-ng run.")
    target_dbfs: float = Field(default=-20.0, ge=-60, le=0, description="RMS loudness every voice line is set to.")
    scorer_url: str | None = Field(
        default=None, description="HTTP image-embedding endpoint for consistency scores; unset: unscored.")
    scorer_model: str = Field(default="openai/clip-vit-base-patch32", description="Model name sent to the scorer.")
    outlier_below: float = Field(default=0.75, ge=-1, le=1, description="Cosine similarity under this: outlier.")
    overnight: bool = Field(default=True, description="Image batches wait for the overnight window.")
    kind: str = Field(default="creative.scene", description="Task kind of the scene pipeline.")

    @field_validator("speech_url", "scorer_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        return _http(v)

    @field_validator("comfyui_urls")
    @classmethod
    def _urls(cls, v: list[str]) -> list[str]:
        return [u for u in (_http(x) for x in v) if u]
