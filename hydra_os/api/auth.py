"""Bearer-token auth. The token lives in a file (mode 0600); a missing default one is generated."""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from loguru import logger

from hydra_os.config import read_secret_file
from hydra_os.errors import StartupError


def ensure_token(path: Path, *, generate: bool) -> str:
    """Read the API token; when ``generate`` and the file is absent, create one (0600) and say where."""
    if path.exists():
        return read_secret_file(path, "API token")
    if not generate:
        raise StartupError(f"api.token_file {path} does not exist; create it or unset api.token_file")
    path.parent.mkdir(parents=True, exist_ok=True)
    token = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    logger.info("generated an API token at {} (mode 0600); send it as 'Authorization: Bearer <token>'", path)
    return token


_bearer = HTTPBearer(auto_error=False, description="The token from the node's api-token file.")


def require_token(token: str) -> Callable[[Request], Coroutine[Any, Any, None]]:
    """A FastAPI dependency: 401 with ``WWW-Authenticate: Bearer`` unless the token matches."""
    expected = token.encode()

    async def check(request: Request) -> None:
        creds: HTTPAuthorizationCredentials | None = await _bearer(request)
        if creds is None or not hmac.compare_digest(creds.credentials.encode(), expected):
            raise HTTPException(
                status_code=status.HTTP_401_UNAUTHORIZED,
                detail="missing or wrong bearer token",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return check
