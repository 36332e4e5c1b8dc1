"""``hydra briefing --since`` values."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from hydra_os.cli.app import app
from hydra_os.cli.briefing_cmd import parse_since
from hydra_os.intake.errors import RequestInputError

TZ = ZoneInfo("Europe/Berlin")


def test_since_forms() -> None:
    now = 1_800_000_000.0
    assert parse_since("12h", TZ, now) == now - 12 * 3600
    assert parse_since("90m", TZ, now) == now - 5400
    assert parse_since("2d", TZ, now) == now - 2 * 86400
    assert parse_since("2026-11-20T18:00", TZ, now) == 1_795_194_000.0  # 17:00 UTC
    for bad, msg in (("yesterday-ish", "expected 12h"), ("2030-01-01T00:00", "in the future")):
        with pytest.raises(RequestInputError, match=msg):
            parse_since(bad, TZ, now)


def test_cli_bad_since_is_one_line_exit_2() -> None:
    r = CliRunner().invoke(app, ["briefing", "--since", "soonish"])
    assert r.exit_code == 2 and "--since" in r.output and "Traceback" not in r.output
