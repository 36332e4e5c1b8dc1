"""``[ui]``: the owner's web page (Mission Control) at ``/ui`` on the node API."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hydra_os.durations import Seconds


class UiConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    enabled: bool = Field(default=True, description="Serve the web page at /ui on gateway nodes.")
    password_file: Path | None = Field(
        default=None, description="File with a UI password accepted at sign-in besides the API token."
    )
    public_url: str | None = Field(
        default=None,
        description="Base URL the owner's phone reaches this node at (https://hydra.example.net); "
        "approval buttons in notifications and the briefing link here. Unset: no buttons.",
    )
    session_ttl: Seconds = Field(default=12 * 3600.0, gt=0, le=30 * 86400.0,
                                 description="How long a sign-in lasts.")
    secure_cookie: bool | None = Field(
        default=None,
        description="Mark the session cookie Secure; default: when public_url or the request is https.",
    )
    max_sessions: int = Field(default=64, ge=1, le=10_000, description="Signed-in browsers kept at most.")
    max_streams: int = Field(default=16, ge=1, le=1000, description="Live-feed connections served at once.")

    @field_validator("public_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is None:
            return None
        if not v.startswith(("http://", "https://")):
            raise ValueError(f"ui.public_url must be an http(s) URL, got {v!r}")
        return v.rstrip("/")
