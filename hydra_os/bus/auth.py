"""Bus credentials: what a client presents to nats-server, and the embedded server's own users.

One box: the daemon generates ``<state_dir>/bus-credentials`` (mode 0600, ``user:password``) on
first start and writes the embedded server's config (``<state_dir>/nats/server.conf``, 0600) with
that one user, so a client that cannot read the state dir cannot use the bus. The CLI reads the
same file when it finds the local daemon through ``runtime.json``.

A cluster (``bus.url``): ``bus.credentials_file`` names a file in one of three formats, told
apart by content — a NATS ``.creds`` file (JWT + nkey seed, decentralized auth), a bare nkey user
seed (``SU...``, for servers that list ``nkey`` users), or one ``user:password`` line.
The secret never reaches a log, a URL or a command line (the embedded server reads it from its
config file, not from ``--pass``, which any local user could read in /proc).
"""

from __future__ import annotations

import os
import secrets
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loguru import logger

from hydra_os.bus.config import BusConfig
from hydra_os.bus.permissions import authorization_block, user_entry
from hydra_os.errors import ConfigError
from hydra_os.secrets import read_secret_file

LOCAL_CREDENTIALS_FILE = "bus-credentials"
_JWT_MARK = "-----BEGIN NATS USER JWT-----"


@dataclass(frozen=True)
class BusCredentials:
    """How a client authenticates: keyword arguments for ``nats.connect``. ``repr`` hides secrets."""

    user: str | None = None
    password: str | None = field(default=None, repr=False)
    creds_path: Path | None = None
    nkey_seed: str | None = field(default=None, repr=False)

    def connect_options(self) -> dict[str, Any]:
        if self.creds_path is not None:
            return {"user_credentials": str(self.creds_path)}
        if self.nkey_seed is not None:
            return {"nkeys_seed_str": self.nkey_seed}
        return {"user": self.user, "password": self.password}


def load_credentials(path: Path) -> BusCredentials:
    """Read ``bus.credentials_file``; the error names the file and the formats, never the content."""
    text = read_secret_file(path, "bus credentials")
    if _JWT_MARK in text:
        return BusCredentials(creds_path=path)
    if text.startswith("SU") and len(text.split()) == 1:
        return BusCredentials(nkey_seed=text)
    user, sep, password = text.partition(":")
    if sep and user and password and "\n" not in text:
        return BusCredentials(user=user, password=password)
    raise ConfigError(
        f"bus credentials file {path}: expected a NATS .creds file, an nkey user seed (SU...) "
        "or one line 'user:password'"
    )


def ensure_local_credentials(state_dir: Path, node_id: str) -> BusCredentials:
    """The embedded server's user: read ``<state_dir>/bus-credentials``, creating it (0600) the first time."""
    path = state_dir / LOCAL_CREDENTIALS_FILE
    if path.exists():
        return load_credentials(path)
    creds = BusCredentials(user=f"hydra-{node_id}", password=secrets.token_urlsafe(32))
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f"{creds.user}:{creds.password}\n")
    logger.info("generated the embedded bus credentials at {} (mode 0600)", path)
    return creds


def local_credentials(state_dir: Path) -> BusCredentials | None:
    """What the CLI presents to the local daemon's embedded server (None when there is no file)."""
    path = state_dir / LOCAL_CREDENTIALS_FILE
    return load_credentials(path) if path.exists() else None


def server_auth_block(users: list[BusCredentials]) -> str:
    """The ``authorization`` block of a nats-server config for user/password clients."""
    return authorization_block([user_entry(u.user or "", u.password or "") for u in users])


def tls_context(config: BusConfig) -> ssl.SSLContext | None:
    """A client TLS context from ``bus.tls_ca_file`` / ``tls_cert_file`` / ``tls_key_file`` (None: no TLS settings)."""
    if not (config.tls_ca_file or config.tls_cert_file):
        return None
    try:
        ctx = ssl.create_default_context(cafile=str(config.tls_ca_file) if config.tls_ca_file else None)
        if config.tls_cert_file:
            ctx.load_cert_chain(str(config.tls_cert_file), str(config.tls_key_file) if config.tls_key_file else None)
    except (OSError, ssl.SSLError) as e:
        raise ConfigError(f"bus TLS files: {e}") from None
    return ctx


def client_options(config: BusConfig, local: BusCredentials | None = None) -> dict[str, Any]:
    """Every auth/TLS keyword for ``nats.connect``: ``local`` (the embedded server's user) wins over config."""
    if local is not None:
        return local.connect_options()  # the embedded server: loopback, its own user, no TLS
    options: dict[str, Any] = {}
    if config.token_file:
        options["token"] = read_secret_file(config.token_file, "bus token")
    if config.creds_file:
        options["user_credentials"] = str(config.creds_file)
    if config.credentials_file:
        options.update(load_credentials(config.credentials_file).connect_options())
    if (ctx := tls_context(config)) is not None:
        options["tls"] = ctx
    return options
