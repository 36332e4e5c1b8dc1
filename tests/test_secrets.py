"""hydra_os.secrets: the one reader of secret files, and the memory layer using it."""

from __future__ import annotations

from pathlib import Path

import pytest

from hydra_os.errors import ConfigError
from hydra_os.secrets import read_optional_secret, read_secret_file
from memory.config import ExtractConfig
from memory.wiring import make_extractor


def test_secret_file_errors_never_show_content(tmp_path: Path) -> None:
    p = tmp_path / "tok"
    with pytest.raises(ConfigError, match="cannot read bus token from"):
        read_secret_file(p, "bus token")
    p.write_text("  \n")
    with pytest.raises(ConfigError, match="is empty"):
        read_secret_file(p, "bus token")
    p.write_text("hunter2\n")
    assert read_secret_file(p, "bus token") == "hunter2"


def test_optional_secret_is_none_only_when_no_file_is_configured(tmp_path: Path) -> None:
    assert read_optional_secret(None, "ntfy token") is None
    p = tmp_path / "tok"
    p.write_text("tk_abc\n")
    assert read_optional_secret(p, "ntfy token") == "tk_abc"
    with pytest.raises(ConfigError, match="cannot read ntfy token from"):
        read_optional_secret(tmp_path / "missing", "ntfy token")


def test_memory_refuses_an_empty_key_file_like_every_other_secret(tmp_path: Path) -> None:
    # memory/wiring once had its own reader that took an empty file as "no key" and sent no
    # credential at all; the owner named a key file, so an empty one is a mistake to report
    key = tmp_path / "extract.key"
    key.write_text("\n")
    cfg = ExtractConfig(url="http://127.0.0.1:9", model="m", api_key_file=key)
    with pytest.raises(ConfigError, match=r"memory\.extract\.api_key_file file .* is empty"):
        make_extractor(cfg)
    key.write_text("sk-1\n")
    assert make_extractor(cfg) is not None
