"""Errors of the model engines and the model manager.

Hierarchy (all under :class:`hydra_os.errors.HydraError`)::

    ModelError                 base of this slice; a one-line message for the owner (CLI exit 2)
    ├── UnknownModelError      no model with that id is declared on this node (also a NotFoundError)
    ├── PlacementError         the model does not fit in free VRAM; names needed vs free per GPU
    ├── ModelBusyError         refused because the model has requests in flight, or is starting/stopping
    └── EngineStartError       the engine exited, or did not become ready in time; names its log

Library errors (OSError from spawning, httpx errors from probes) are translated here, at the
boundary where the engine is run or probed.
"""

from __future__ import annotations

from hydra_os.errors import HydraError, NotFoundError


class ModelError(HydraError):
    exit_code = 2


class UnknownModelError(ModelError, NotFoundError):
    exit_code = 2


class PlacementError(ModelError):
    pass


class ModelBusyError(ModelError):
    pass


class EngineStartError(ModelError):
    pass
