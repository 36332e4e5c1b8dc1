"""The ``[bus]`` section: how a node joins NATS (or starts its embedded server).

It lives with the bus, not in :mod:`hydra_os.config`, so the bus client takes its own section and the
bus package does not import the settings that aggregate every subsystem (that edge tied the whole tree
into one import cycle). :mod:`hydra_os.config` re-exports it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_settings import NoDecode

from hydra_os.durations import Seconds


class BusConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    url: Annotated[list[str] | None, NoDecode] = Field(
        default=None,
        description="NATS server URL(s) to join. Unset: start an embedded nats-server.",
    )
    host: str = Field(default="127.0.0.1", description="Embedded server: address to bind.")
    port: int = Field(default=0, ge=0, le=65535, description="Embedded server: port; 0 picks a free one.")
    server_binary: Path | None = Field(default=None, description="Embedded server: nats-server to run.")
    token_file: Path | None = Field(default=None, description="File holding a NATS auth token.")
    creds_file: Path | None = Field(default=None, description="NATS user credentials (.creds) file.")
    credentials_file: Path | None = Field(
        default=None,
        description="Cluster credentials: a NATS .creds file, an nkey user seed or one 'user:password' line.",
    )
    tls_ca_file: Path | None = Field(default=None, description="CA bundle that signs the NATS servers' certificates.")
    tls_cert_file: Path | None = Field(default=None, description="Client certificate for NATS TLS (mutual TLS).")
    tls_key_file: Path | None = Field(default=None, description="Private key of bus.tls_cert_file.")
    connect_timeout: Seconds = Field(default=2.0, description="Seconds to wait for the first connection.")
    reconnect_wait: Seconds = Field(default=0.5, description="Seconds between reconnect attempts.")
    request_timeout: Seconds = Field(default=2.0, description="Default timeout of bus requests.")
    probe_interval: Seconds = Field(
        default=2.0, ge=0.1, le=60, description="Seconds between bus probes (a round trip feeding readiness)."
    )
    probe_timeout: Seconds = Field(default=3.0, ge=0.1, le=60, description="Seconds a bus probe may take.")
    replicas: int = Field(
        default=1, ge=1, le=5, description="JetStream replicas of Hydra's streams and buckets (3 on a 3-node cluster)."
    )

    @field_validator("url", mode="before")
    @classmethod
    def _split_urls(cls, v: Any) -> Any:
        if isinstance(v, str):
            v = [u.strip() for u in v.split(",") if u.strip()]
        return v or None

    @field_validator("url")
    @classmethod
    def _check_urls(cls, v: list[str] | None) -> list[str] | None:
        for u in v or []:
            scheme = urlsplit(u).scheme
            if scheme not in ("nats", "tls", "ws", "wss"):
                raise ValueError(f"expected nats://host:port (or tls://, ws://, wss://), got {u!r}")
        return v

    @model_validator(mode="after")
    def _check_tls(self) -> BusConfig:
        if self.tls_key_file is not None and self.tls_cert_file is None:
            raise ValueError("tls_key_file needs tls_cert_file")
        return self
