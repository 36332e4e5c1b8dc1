"""``[intake.briefing]``: where the morning briefing goes."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from hydra_os.durations import Hours, Seconds

Channel = Literal["file", "ntfy", "email", "webhook"]


class BriefingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    deliver: list[Channel] = Field(
        default_factory=lambda: list[Channel](["file"]),
        description="Channels: file (always written too), ntfy, email, webhook.",
    )
    dir: Path | None = Field(default=None, description="Folder for briefing files; default <state_dir>/briefings.")
    opening: bool = Field(default=True, description="Let a model (when one is up) write a short opening paragraph.")
    max_items: int = Field(default=20, ge=1, le=500, description="Items listed per section at most.")
    thumbnails: int = Field(default=8, ge=0, le=48, description="Thumbnails of new creative images, at most.")
    thumbnail_px: int = Field(default=160, ge=32, le=512, description="A thumbnail's longer side in pixels.")
    lookback_h: Hours = Field(
        default=24.0, le=24 * 30, description="Without an earlier briefing, cover this many hours back."
    )
    public_url: str | None = Field(
        default=None, description="Base URL for links to task results; default: the API URL of the node running it."
    )
    ntfy_url: str | None = Field(default=None, description="ntfy server base URL, e.g. https://ntfy.sh.")
    ntfy_topic: str | None = Field(default=None, description="ntfy topic.")
    ntfy_token_file: Path | None = Field(default=None, description="ntfy access token file.")
    webhook_url: str | None = Field(default=None, description="URL that receives the briefing as a JSON POST.")
    webhook_token_file: Path | None = Field(default=None, description="Bearer token file for the webhook.")
    smtp_host: str | None = Field(default=None, description="SMTP server host.")
    smtp_port: int = Field(default=587, ge=1, le=65535, description="SMTP server port.")
    smtp_security: Literal["starttls", "tls", "none"] = Field(
        default="starttls", description="starttls (587), tls (implicit, 465) or none (a local relay only)."
    )
    smtp_username: str | None = Field(default=None, description="SMTP login name (with smtp_password_file).")
    smtp_password_file: Path | None = Field(default=None, description="File holding the SMTP password.")
    email_from: str | None = Field(default=None, description="Sender address.")
    email_to: list[str] = Field(default_factory=list, description="Recipient addresses.")
    timeout_s: Seconds = Field(default=15.0, description="Seconds per delivery attempt.")

    @field_validator("ntfy_url", "webhook_url", "public_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError(f"expected an http(s) URL, got {v!r}")
        return v

    @model_validator(mode="after")
    def _channels(self) -> BriefingConfig:
        if "ntfy" in self.deliver and not (self.ntfy_url and self.ntfy_topic):
            raise ValueError("deliver has 'ntfy': set ntfy_url and ntfy_topic")
        if "webhook" in self.deliver and not self.webhook_url:
            raise ValueError("deliver has 'webhook': set webhook_url")
        if "email" in self.deliver and not (self.smtp_host and self.email_from and self.email_to):
            raise ValueError("deliver has 'email': set smtp_host, email_from and email_to")
        if (self.smtp_username is None) != (self.smtp_password_file is None):
            raise ValueError("set smtp_username and smtp_password_file together")
        return self
