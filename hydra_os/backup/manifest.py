"""The self-describing head of every backup: ``manifest.json``, the archive's first member."""

from __future__ import annotations

import hashlib
from enum import StrEnum
from typing import Any, BinaryIO

from pydantic import BaseModel, ConfigDict, Field

FORMAT = "hydra-backup"
VERSION = 1
MANIFEST_NAME = "manifest.json"
HASH_CHUNK = 1 << 20


class PartKind(StrEnum):
    STREAM = "stream"  # a JetStream snapshot (opaque to us; the server writes and reads it)
    STREAM_META = "stream-meta"  # the stream's config and state at snapshot time (JSON)
    MEMORY = "memory"  # memory.backup's JSON-lines export
    FILE = "file"  # a state-dir file, restored to the same relative path
    CONFIG = "config"  # a config file from outside the state dir (the policy file)


class Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str = Field(description="Path of the member in the archive.")
    kind: PartKind
    sha256: str
    size: int = Field(ge=0)
    source: str = Field(default="", description="Stream name, or the original path of a file.")


class Manifest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: str = FORMAT
    version: int = VERSION
    node: str
    created: float = Field(description="UNIX time the backup started.")
    finished: float = Field(description="UNIX time the last part was taken.")
    hydra_version: str
    embedding_model: str | None = None
    counts: dict[str, int] = Field(default_factory=dict, description="Memory records per kind, messages per stream.")
    order: list[str] = Field(
        default_factory=list, description="The order the parts were taken in (what makes the set consistent).",
    )
    parts: list[Part] = Field(default_factory=list)

    @property
    def total_size(self) -> int:
        return sum(p.size for p in self.parts)

    def part(self, name: str) -> Part | None:
        return next((p for p in self.parts if p.name == name), None)

    def summary(self) -> dict[str, Any]:
        return {"node": self.node, "created": self.created, "hydra_version": self.hydra_version,
                "parts": len(self.parts), "content_bytes": self.total_size, "counts": self.counts}


def sha256_of(f: BinaryIO) -> tuple[str, int]:
    """sha256 hex digest and size of everything readable from ``f``."""
    h = hashlib.sha256()
    size = 0
    while chunk := f.read(HASH_CHUNK):
        h.update(chunk)
        size += len(chunk)
    return h.hexdigest(), size
