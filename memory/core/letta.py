"""Core memory on a Letta server, through the official ``letta-client`` (its blocks API).

Calls made (and nothing else): ``GET /v1/blocks/`` (filter ``tags``, ``label``; paged with
``after``), ``GET /v1/blocks/{id}``, ``POST /v1/blocks/``, ``PATCH /v1/blocks/{id}``.

Hydra's blocks carry the tag ``hydra`` (configurable) so other blocks on the server are left alone.
Letta keeps no edit history and no update time on a block, so both travel in the block's
``metadata`` (``hydra_history``: the full history, ``hydra_updated_at``): a second node reading the
same server sees the same history. Edits are read-modify-write, serialised in this process; the
memory node is the only Hydra writer.
"""

from __future__ import annotations

from typing import Any

import letta_client
from letta_client import AsyncLetta
from letta_client.types import BlockResponse
from pydantic import ValidationError

from memory.core.blocks import BlockBackendBase
from memory.errors import MemoryBackendError
from memory.protocols import Block, BlockEdit, utcnow

HISTORY_KEY = "hydra_history"
UPDATED_KEY = "hydra_updated_at"


class LettaCoreMemory(BlockBackendBase):
    def __init__(
        self,
        base_url: str,
        *,
        api_key: str | None = None,
        tag: str = "hydra",
        timeout: float = 10.0,
    ) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")
        self.tag = tag
        # api_key None: the client falls back to $LETTA_API_KEY, else sends no Authorization header
        self._client = AsyncLetta(base_url=self.base_url, api_key=api_key, timeout=timeout, max_retries=1)
        self._ids: dict[str, str] = {}

    async def open(self) -> LettaCoreMemory:
        await self._labels()
        return self

    async def close(self) -> None:
        await self._client.close()

    def _fail(self, what: str, e: Exception) -> MemoryBackendError:
        if isinstance(e, letta_client.APIStatusError):
            detail = f"HTTP {e.status_code}: {str(e.message)[:200]}"
        elif isinstance(e, letta_client.APIConnectionError):
            detail = "cannot connect"
        else:
            detail = f"{type(e).__name__}: {e}"
        return MemoryBackendError(f"letta server {self.base_url}: {what} failed ({detail})")

    async def _labels(self) -> list[str]:
        ids: dict[str, str] = {}
        try:
            async for b in self._client.blocks.list(tags=[self.tag], limit=100):
                if b.label and b.label not in ids:
                    ids[b.label] = b.id
        except letta_client.APIError as e:
            raise self._fail("listing blocks", e) from e
        self._ids = ids
        return sorted(ids)

    async def _read(self, label: str) -> tuple[Block, list[BlockEdit]] | None:
        block_id = self._ids.get(label)
        try:
            if block_id is None:
                page = await self._client.blocks.list(tags=[self.tag], label=label, limit=1)
                if not page.items:
                    return None
                found = page.items[0]
                self._ids[label] = found.id
            else:
                found = await self._client.blocks.retrieve(block_id)
        except letta_client.NotFoundError:
            self._ids.pop(label, None)
            return None
        except letta_client.APIError as e:
            raise self._fail(f"reading block {label!r}", e) from e
        return self._decode(found)

    async def _write(self, block: Block, history: list[BlockEdit]) -> None:
        metadata: dict[str, object] = {
            HISTORY_KEY: [h.model_dump(mode="json", exclude_none=True) for h in history],
            UPDATED_KEY: block.updated_at.isoformat(),
        }
        fields: dict[str, Any] = {
            "value": block.value,
            "limit": block.limit,
            "description": block.description,
            "read_only": block.read_only,
            "metadata": metadata,
        }
        block_id = self._ids.get(block.label)
        try:
            if block_id is None:
                created = await self._client.blocks.create(label=block.label, tags=[self.tag], **fields)
                self._ids[block.label] = created.id
            else:
                await self._client.blocks.update(block_id, **fields)
        except letta_client.APIError as e:
            raise self._fail(f"writing block {block.label!r}", e) from e

    def _decode(self, b: BlockResponse) -> tuple[Block, list[BlockEdit]]:
        meta = b.metadata or {}
        try:
            updated = meta.get(UPDATED_KEY)
            block = Block.model_validate(
                {
                    "label": b.label,
                    "value": b.value,
                    "limit": b.limit if b.limit is not None else max(2000, len(b.value)),
                    "description": b.description or "",
                    "read_only": bool(b.read_only),
                    **({"updated_at": updated} if updated else {}),
                }
            )
            raw = meta.get(HISTORY_KEY)
            history = [BlockEdit.model_validate(h) for h in raw] if isinstance(raw, list) else []
        except ValidationError as e:
            raise MemoryBackendError(
                f"letta server {self.base_url}: block {b.id} ({b.label!r}) is not a valid Hydra block: "
                f"{e.errors()[0]['msg']}"
            ) from e
        if not history:  # made outside Hydra: its current value is where our history starts
            history = [BlockEdit(at=utcnow(), op="import", value=block.value)]
        return block, history
