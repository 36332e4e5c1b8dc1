"""Errors of the research pipeline.

Hierarchy (HTTP status, code)::

    HydraError
    └── SourceError  502 source_failed  a research source failed (one source; the others still count),
                                        or every source did, or a source's optional library is missing

A source's HTTP and parsing errors are translated into this where the source reads them
(:func:`pipelines.research.sources.base.get`), so one message names the source and what went wrong.
"""

from __future__ import annotations

from hydra_os.errors import HydraError


class SourceError(HydraError):
    """One research source could not be read."""

    http_status = 502
    code = "source_failed"
