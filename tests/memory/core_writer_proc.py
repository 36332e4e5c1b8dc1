"""Child process for the kill -9 test: rewrites one native core block forever, printing each commit.

``python -m tests.memory.core_writer_proc DIR`` — after each completed rewrite prints ``<n>``.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from memory.core.native import NativeCoreMemory
from memory.protocols import Block

FILL = 40_000


async def main(directory: Path) -> None:
    core = await NativeCoreMemory(directory).open()
    try:
        block = await core.get_block("big")
        n = int(block.value[:8])
    except Exception:
        await core.create_block(Block(label="big", value=f"{0:08d}", limit=100_000))
        n = 0
    print(n, flush=True)
    while True:
        n += 1
        await core.rewrite("big", f"{n:08d}" + "x" * FILL)
        print(n, flush=True)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1])))
