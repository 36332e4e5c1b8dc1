"""Path parameters shared by the node routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

# Ids of tasks, jobs, approvals and maintenance windows become NATS KV keys; anything else (non-ASCII,
# spaces, dots that would make empty subject tokens) is refused here with 422 naming the parameter,
# before it reaches the store (where nats-py raised InvalidKeyError: a 500).
ID_PATTERN = r"^[A-Za-z0-9_-]{1,128}$"


def id_param(what: str) -> object:
    return Path(pattern=ID_PATTERN, description=f"The {what}: letters, digits, '-' and '_' (at most 128).")


TaskId = Annotated[str, id_param("task id")]
JobId = Annotated[str, id_param("job id")]
ApprovalId = Annotated[str, id_param("approval id")]
WindowId = Annotated[str, id_param("maintenance window id")]
