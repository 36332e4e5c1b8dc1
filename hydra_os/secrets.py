"""Reading one secret (a token, a password, an API key) from a file: the only way Hydra reads secrets.

A leaf module (it imports only :mod:`hydra_os.errors`), so the config, the notifier, the bus, the API,
memory and the pipelines can all use it without importing each other.

Semantics, one set for every caller: surrounding whitespace is stripped (a secret never starts or
ends with a space; files written by ``echo`` end with a newline), an empty file is refused rather
than read as "no secret" (a key file the owner named but left empty is a mistake, and silently
sending no credential would only surface later as a puzzling 401), and the error names the file
and what it was for, never the content.
"""

from __future__ import annotations

from pathlib import Path

from hydra_os.errors import ConfigError


def read_secret_file(path: Path, what: str) -> str:
    """Read one secret from a file; the error names the file, never the content."""
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as e:
        raise ConfigError(f"cannot read {what} from {path}: {e.strerror}") from None
    if not value:
        raise ConfigError(f"{what} file {path} is empty")
    return value


def read_optional_secret(path: Path | None, what: str) -> str | None:
    """The secret in ``path``, or None when no file is configured (an optional credential)."""
    return None if path is None else read_secret_file(path, what)
