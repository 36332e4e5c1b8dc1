"""A local folder of documents (.md, .txt, .html, .htm): read off the event loop, matched by words."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pipelines.research.extract import extract_html
from pipelines.research.model import Hit
from pipelines.research.sources.base import overlap

SUFFIXES = (".md", ".markdown", ".txt", ".rst", ".html", ".htm")
MAX_FILE = 2_000_000


def _read_all(dirs: list[Path]) -> list[tuple[Path, str]]:
    out = []
    for d in dirs:
        if not d.is_dir():
            continue
        for p in sorted(d.rglob("*")):
            if p.suffix.lower() in SUFFIXES and p.is_file() and not p.is_symlink():
                try:
                    raw = p.read_bytes()[:MAX_FILE]
                except OSError:
                    continue
                text = raw.decode("utf-8", errors="replace")
                if p.suffix.lower() in (".html", ".htm"):
                    text = extract_html(text, p.as_uri())[1] or ""
                out.append((p, text))
    return out


class LocalFolderSource:
    name = "local"

    def __init__(self, dirs: list[Path]) -> None:
        self.dirs = dirs
        self._docs: list[tuple[Path, str]] | None = None
        self._lock = asyncio.Lock()

    async def search(self, query: str, limit: int) -> list[Hit]:
        async with self._lock:
            if self._docs is None:
                self._docs = await asyncio.to_thread(_read_all, self.dirs)
        scored = []
        for path, text in self._docs:
            s = overlap(query, path.stem.replace("-", " ").replace("_", " "), text)
            if s > 0:
                first = next((ln.strip("# ").strip() for ln in text.splitlines() if ln.strip()), path.stem)
                scored.append((s, Hit(url=path.as_uri(), title=first[:200], snippet=text[:400], source=self.name,
                                      query=query, text=text)))
        scored.sort(key=lambda p: -p[0])
        return [h for _, h in scored[:limit]]
