"""Packing a staged backup into one ``.tar.zst`` on disk, atomically, and reading one back.

The archive is written to a hidden temporary file in the destination, fsynced, renamed into place
and the directory fsynced: a crash leaves the previous backups and at most a temporary file (removed
by the next backup), never a truncated archive under a backup's name. ``manifest.json`` is the first
member so listing a backup reads only its first few kilobytes.

Reading checks every member against the manifest as it streams by: the sha256 and size of each part,
no part missing, nothing extra, no name outside the archive's own tree.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tarfile
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import BinaryIO

import zstandard
from pydantic import ValidationError

from hydra_os.backup.errors import BackupInvalidError
from hydra_os.backup.manifest import FORMAT, HASH_CHUNK, MANIFEST_NAME, VERSION, Manifest, Part
from memory.core.atomic import TMP_SUFFIX, fsync_dir

SUFFIX = ".tar.zst"
PREFIX = "hydra-backup-"
_NAME = re.compile(r"^hydra-backup-(?P<node>[A-Za-z0-9_-]+)-(?P<ts>\d{8}T\d{6}Z)\.tar\.zst$")


def archive_name(node: str, created: float) -> str:
    ts = datetime.fromtimestamp(created, UTC).strftime("%Y%m%dT%H%M%SZ")
    return f"{PREFIX}{node}-{ts}{SUFFIX}"


def parse_name(name: str) -> tuple[str, datetime] | None:
    """``(node, created)`` of a backup file name; None for any other file."""
    m = _NAME.match(name)
    if not m:
        return None
    return m["node"], datetime.strptime(m["ts"], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def remove_partial(dest: Path) -> None:
    """Temporary archives a killed backup left behind."""
    for p in dest.glob(f".{PREFIX}*{TMP_SUFFIX}"):
        p.unlink(missing_ok=True)


def pack(staging_root: Path, manifest: Manifest, dest: Path, level: int) -> Path:
    """Write the archive of ``manifest``'s parts (files under ``staging_root``); returns its path. Blocking."""
    final = dest / archive_name(manifest.node, manifest.created)
    tmp = dest / f".{final.name}.{os.getpid()}{TMP_SUFFIX}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        with os.fdopen(fd, "wb", closefd=False) as raw:
            cctx = zstandard.ZstdCompressor(level=level, threads=-1, write_checksum=True)  # frames check themselves too
            with cctx.stream_writer(raw, closefd=False) as zw, tarfile.open(fileobj=zw, mode="w|") as tar:
                body = manifest.model_dump_json(indent=1).encode()
                info = tarfile.TarInfo(MANIFEST_NAME)
                info.size, info.mode, info.mtime = len(body), 0o600, int(manifest.created)
                tar.addfile(info, io.BytesIO(body))
                for part in manifest.parts:
                    info = tarfile.TarInfo(part.name)
                    info.size, info.mode, info.mtime = part.size, 0o600, int(manifest.created)
                    with (staging_root / part.name).open("rb") as f:
                        tar.addfile(info, f)
            raw.flush()
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(tmp, final)
    fsync_dir(dest)
    return final


def _open_tar(path: Path) -> tuple[BinaryIO, tarfile.TarFile]:
    try:
        raw = path.open("rb")
    except OSError as e:
        raise BackupInvalidError(f"cannot read backup {path}: {e.strerror}") from None
    reader = zstandard.ZstdDecompressor().stream_reader(raw, closefd=True)
    try:
        return raw, tarfile.open(fileobj=reader, mode="r|")
    except (tarfile.TarError, zstandard.ZstdError) as e:
        raw.close()
        raise BackupInvalidError(f"{path.name} is not a hydra backup archive ({e})") from None


def _parse_manifest(path: Path, raw: bytes) -> Manifest:
    try:
        m = Manifest.model_validate_json(raw)
    except ValidationError as e:
        err = e.errors()[0]
        where = ".".join(str(x) for x in err["loc"])
        raise BackupInvalidError(f"{path.name}: manifest field {where}: {err['msg']}") from None
    if m.format != FORMAT:
        raise BackupInvalidError(f"{path.name}: manifest format {m.format!r}, expected {FORMAT!r}")
    if m.version != VERSION:
        raise BackupInvalidError(f"{path.name}: backup format version {m.version}; this hydra reads {VERSION}")
    for p in m.parts:
        pp = PurePosixPath(p.name)
        if pp.is_absolute() or ".." in pp.parts or p.name == MANIFEST_NAME:
            raise BackupInvalidError(f"{path.name}: part name {p.name!r} is outside the archive's tree")
    return m


def read_manifest(path: Path) -> Manifest:
    """The manifest alone (the first member). Blocking."""
    raw, tar = _open_tar(path)
    try:
        first = tar.next()
        if first is None or first.name != MANIFEST_NAME:
            raise BackupInvalidError(f"{path.name}: the first member is not {MANIFEST_NAME}")
        f = tar.extractfile(first)
        assert f is not None
        return _parse_manifest(path, f.read())
    except (tarfile.TarError, zstandard.ZstdError, EOFError) as e:
        raise BackupInvalidError(f"{path.name}: damaged archive ({e})") from None
    finally:
        tar.close()
        raw.close()


def unpack(path: Path, into: Path | None) -> Manifest:
    """Check every part's sha256 and size against the manifest; with ``into``, also write the parts
    there. Raises :class:`BackupInvalidError` naming the first part that does not match. Blocking."""
    raw, tar = _open_tar(path)
    try:
        first, manifest = _read_manifest(path, tar)
        expected = {p.name: p for p in manifest.parts}
        seen: set[str] = set()
        for member in tar:
            if member is first:
                continue  # a TarFile's iterator yields the members already read first
            part = expected.get(member.name)
            if part is None or member.name in seen or not member.isfile():
                raise BackupInvalidError(f"{path.name}: member {member.name!r} is not listed in the manifest")
            seen.add(member.name)
            _check_part(path, tar, member, part, into)
        if missing := sorted(set(expected) - seen):
            raise BackupInvalidError(f"{path.name}: parts missing from the archive: {', '.join(missing)}")
        return manifest
    except (tarfile.TarError, zstandard.ZstdError, EOFError) as e:
        raise BackupInvalidError(f"{path.name}: damaged archive ({e})") from None
    finally:
        tar.close()
        raw.close()


def _read_manifest(path: Path, tar: tarfile.TarFile) -> tuple[tarfile.TarInfo, Manifest]:
    """The archive's first member, which must be the manifest, and the manifest parsed."""
    first = tar.next()
    if first is None or first.name != MANIFEST_NAME:
        raise BackupInvalidError(f"{path.name}: the first member is not {MANIFEST_NAME}")
    mf = tar.extractfile(first)
    assert mf is not None
    return first, _parse_manifest(path, mf.read())


def _check_part(path: Path, tar: tarfile.TarFile, member: tarfile.TarInfo, part: Part, into: Path | None) -> None:
    """Stream one part through sha256 (and into ``into`` when given); raise if it does not match."""
    src = tar.extractfile(member)
    assert src is not None
    h, size = hashlib.sha256(), 0
    out: BinaryIO | None = None
    if into is not None:
        target = into / member.name
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        out = target.open("wb")
    try:
        while chunk := src.read(HASH_CHUNK):
            h.update(chunk)
            size += len(chunk)
            if out is not None:
                out.write(chunk)
    finally:
        if out is not None:
            out.close()
    if size != part.size or h.hexdigest() != part.sha256:
        raise BackupInvalidError(f"{path.name}: part {part.name} does not match its checksum "
                                 f"(sha256 {h.hexdigest()[:12]}, {size} bytes; the manifest says "
                                 f"{part.sha256[:12]}, {part.size} bytes): the backup is damaged")
