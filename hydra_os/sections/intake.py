"""``[intake]``: natural-language requests, and the two pipelines they start most (``[intake.research]``,
``[intake.briefing]``)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from hydra_os.durations import Seconds
from hydra_os.sections.briefing import BriefingConfig
from hydra_os.sections.research import ResearchConfig


class IntakeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    llm_url: str | None = Field(
        default=None,
        description="OpenAI-compatible base URL ending in /v1 for chat. Unset: the API of a live gateway node "
                    "(this node first), with this node's API token.",
    )
    llm_api_key_file: Path | None = Field(default=None, description="Bearer token file for llm_url (when set).")
    model: str = Field(
        default="hydra/auto", min_length=1, description="Model to ask; hydra/auto lets the router choose."
    )
    timeout_s: Seconds = Field(default=120.0, description="Seconds one chat call may take.")
    stream_idle_s: Seconds = Field(
        default=60.0, description="A streamed answer (Ask, `stream: true`) fails after this long without a chunk.")
    model_classification: bool = Field(
        default=True, description="Ask the model to classify requests the rules are unsure about (when one is up)."
    )
    ambiguous_below: float = Field(
        default=0.6, ge=0, le=1, description="Rule confidence below which the model classifies (when available)."
    )
    memory_context: bool = Field(default=True, description="Put memory (ContextBuilder) into answers' prompts.")
    answer_max_tokens: int = Field(default=1024, ge=16, le=32768, description="Longest answer, in tokens.")
    max_request_chars: int = Field(default=4000, ge=10, le=100_000, description="Longest request accepted.")
    research_kind: str = Field(default="research.topic", description="Task kind queued for research requests.")
    reminder_kind: str = Field(default="intake.reminder", description="Task kind queued for reminders.")
    ops_kind: str = Field(default="intake.ops", description="Task kind queued for operations asked for later.")
    research: ResearchConfig = Field(default_factory=ResearchConfig, description="The research pipeline.")
    briefing: BriefingConfig = Field(default_factory=BriefingConfig, description="The morning briefing.")

    @field_validator("llm_url")
    @classmethod
    def _url(cls, v: str | None) -> str | None:
        if v is not None and not v.startswith(("http://", "https://")):
            raise ValueError("expected an http(s) URL ending in /v1, e.g. http://127.0.0.1:8700/v1")
        return v
