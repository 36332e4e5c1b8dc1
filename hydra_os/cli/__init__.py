"""The ``hydra`` command line (Typer + Rich). One module per command group."""

from __future__ import annotations

from hydra_os.cli.app import app


def main() -> None:
    app()


__all__ = ["app", "main"]
