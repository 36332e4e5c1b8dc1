"""Bearer-token auth. The token lives in a file (mode 0600); a missing default one is generated."""

from __future__ import annotations

import hmac
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from loguru import logger

from hydra_os.errors import StartupError
from hydra_os.secrets import read_secret_file


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


class BearerToken:
    """The node's bearer-token check.

    Called with a request it is a FastAPI dependency (``Depends(check)``): 401 with
    ``WWW-Authenticate: Bearer`` unless the token matches (HTTPBearer parses the header, so OpenAPI
    documents the scheme). :meth:`allows_scope` is the same test on a raw ASGI scope, for the
    gateway's hot paths that run ahead of FastAPI and build no Request.
    """

    def __init__(self, token: str) -> None:
        self._expected = token.encode()

    def allows(self, credentials: bytes) -> bool:
        return hmac.compare_digest(credentials, self._expected)

    def allows_scope(self, scope: Mapping[str, Any]) -> bool:
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                scheme, _, creds = value.partition(b" ")
                return scheme.lower() == b"bearer" and self.allows(creds.strip())
        return False

    # ``Depends(_bearer)`` (not a call inside) so FastAPI knows the scheme: every route behind this
    # check declares ``security: HTTPBearer`` in /openapi.json
    async def __call__(self, creds: HTTPAuthorizationCredentials | None = Depends(_bearer)) -> None:  # noqa: B008
        if creds is None or not self.allows(creds.credentials.encode()):
            raise HTTPException(
                status_code=status.HTTP_401_UNAUTHORIZED,
                detail="missing or wrong bearer token",
                headers={"WWW-Authenticate": "Bearer"},
            )


def require_token(token: str) -> BearerToken:
    """The bearer-token check for ``token`` (a FastAPI dependency; see :class:`BearerToken`)."""
    return BearerToken(token)
