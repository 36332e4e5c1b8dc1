"""Core-memory contract: the same suite against the native store and a Letta server (stand-in)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from memory.core.blocks import DEFAULT_BLOCKS, BlockBackendBase, render_blocks
from memory.core.letta import LettaCoreMemory
from memory.core.native import NativeCoreMemory
from memory.errors import BlockEditError, BlockLimitError, MemoryBackendError, MemoryNotFoundError
from memory.protocols import Block, CoreMemory
from tests.memory.conftest import LettaProc

Opener = Callable[[], Awaitable[BlockBackendBase]]


@pytest.fixture(params=["native", "letta"])
async def open_core(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Opener]:
    """Opens a fresh handle on the same store each call (to prove persistence)."""
    opened: list[BlockBackendBase] = []
    if request.param == "native":

        async def opener() -> BlockBackendBase:
            store = await NativeCoreMemory(tmp_path / "core").open()
            opened.append(store)
            return store
    else:
        srv: LettaProc = request.getfixturevalue("letta_server")
        tag = f"hydra-{uuid.uuid4().hex[:8]}"  # isolates this test's blocks on the shared server

        async def opener() -> BlockBackendBase:
            store = await LettaCoreMemory(srv.url, api_key=srv.api_key, tag=tag).open()
            opened.append(store)
            return store

    yield opener
    for s in opened:
        await s.close()


async def test_defaults_and_protocol(open_core: Opener) -> None:
    core = await open_core()
    assert isinstance(core, CoreMemory)
    await core.ensure_blocks(DEFAULT_BLOCKS)
    await core.ensure_blocks(DEFAULT_BLOCKS)  # idempotent
    blocks = await core.list_blocks()
    assert [b.label for b in blocks] == ["persona", "owner", "projects", "preferences"]
    assert all(b.value == "" and b.limit >= 2000 and b.description for b in blocks)
    assert [h.op for h in await core.history("owner")] == ["create"]


async def test_edits_history_and_persistence(open_core: Opener) -> None:
    core = await open_core()
    await core.ensure_blocks(DEFAULT_BLOCKS)
    await core.append("owner", "Name: Sam")
    await core.append("owner", "Lives in Lisbon")
    b = await core.replace("owner", "Lisbon", "Porto")
    assert b.value == "Name: Sam\nLives in Porto"
    await core.rewrite("projects", "visual novel: chapter 3")

    again = await open_core()  # a new handle reads what the first wrote
    assert (await again.get_block("owner")).value == "Name: Sam\nLives in Porto"
    assert (await again.get_block("projects")).value == "visual novel: chapter 3"
    hist = await again.history("owner")
    assert [h.op for h in hist] == ["create", "append", "append", "replace"]
    assert [h.value for h in hist] == [
        "", "Name: Sam", "Name: Sam\nLives in Lisbon", "Name: Sam\nLives in Porto"
    ]
    assert (hist[3].old, hist[3].new) == ("Lisbon", "Porto")
    assert hist[0].at <= hist[1].at <= hist[3].at
    assert (await again.get_block("owner")).updated_at == hist[3].at


async def test_replace_of_absent_text_names_it_and_changes_nothing(open_core: Opener) -> None:
    core = await open_core()
    await core.create_block(Block(label="notes", value="alpha beta", limit=100))
    with pytest.raises(BlockEditError, match="does not contain the text 'gamma'"):
        await core.replace("notes", "gamma", "delta")
    assert (await core.get_block("notes")).value == "alpha beta"
    assert len(await core.history("notes")) == 1


async def test_edit_past_limit_says_how_much_to_trim(open_core: Opener) -> None:
    core = await open_core()
    await core.create_block(Block(label="small", value="12345", limit=10))
    with pytest.raises(BlockLimitError, match=r"would be 12 characters, over its limit of 10: trim 2 char"):
        await core.append("small", "abcdef")  # "12345\nabcdef" = 12
    with pytest.raises(BlockLimitError, match="trim 1 character "):
        await core.rewrite("small", "x" * 11)
    await core.rewrite("small", "x" * 10)  # exactly at the limit is fine
    assert (await core.get_block("small")).value == "x" * 10
    with pytest.raises(BlockLimitError):
        await core.create_block(Block(label="toolong", value="y" * 11, limit=10))


async def test_read_only_duplicate_and_unknown(open_core: Opener) -> None:
    core = await open_core()
    await core.create_block(Block(label="rules", value="never delete data", read_only=True))
    with pytest.raises(BlockEditError, match="read-only"):
        await core.append("rules", "more")
    with pytest.raises(BlockEditError, match="already exists"):
        await core.create_block(Block(label="rules"))
    with pytest.raises(MemoryNotFoundError, match="no core block 'nope'"):
        await core.get_block("nope")
    with pytest.raises(MemoryNotFoundError):
        await core.append("nope", "x")


async def test_render_shows_sizes(open_core: Opener) -> None:
    core = await open_core()
    await core.ensure_blocks(DEFAULT_BLOCKS)
    await core.append("preferences", "editor: helix")
    text = render_blocks(await core.list_blocks())
    assert text.startswith("<memory_blocks>\n<persona>")
    assert "<preferences>" in text and "chars_current=13 chars_limit=2000" in text
    assert "editor: helix" in text


async def test_import_keeps_history_verbatim(open_core: Opener) -> None:
    src = await open_core()
    await src.create_block(Block(label="log", value="a"))
    await src.append("log", "b")
    block, hist = await src.get_block("log"), await src.history("log")
    dst = await open_core()
    await dst.import_block(block.model_copy(update={"label": "log2"}), hist)
    assert await dst.history("log2") == hist
    assert (await dst.get_block("log2")).value == "a\nb"


async def test_letta_backend_makes_only_the_documented_calls(letta_server: LettaProc) -> None:
    store = await LettaCoreMemory(letta_server.url, api_key=letta_server.api_key, tag="calls-check").open()
    try:
        await store.create_block(Block(label="persona", value="helpful"))
        await store.append("persona", "terse")
        await store.get_block("persona")
    finally:
        await store.close()
    kinds = {c.split("/v1/blocks/")[0] + ("/v1/blocks/{id}" if c.split("/v1/blocks/")[1] else "/v1/blocks/")
             for c in letta_server.calls()}
    assert kinds <= {"GET /v1/blocks/", "GET /v1/blocks/{id}", "POST /v1/blocks/", "PATCH /v1/blocks/{id}"}


async def test_letta_errors_are_translated(letta_server: LettaProc) -> None:
    store = LettaCoreMemory(letta_server.url, api_key="wrong", tag="x")
    with pytest.raises(MemoryBackendError, match=r"letta server .* listing blocks failed \(HTTP 401"):
        await store.open()
    await store.close()
    down = LettaCoreMemory("http://127.0.0.1:9", tag="x", timeout=1)
    with pytest.raises(MemoryBackendError, match="cannot connect"):
        await down.open()
    await down.close()
