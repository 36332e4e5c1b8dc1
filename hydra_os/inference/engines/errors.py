"""Errors of the model engines and the model manager.

Hierarchy (all under :class:`hydra_os.errors.HydraError`)::

    ModelError              400 model_error          base of these; a one-line message for the owner (exit 2)
    ├── UnknownModelError   404 unknown_model        no model with that id on this node (also a NotFoundError)
    ├── PlacementError      409 placement_failed     the model does not fit in free VRAM; names needed vs free
    ├── ModelBusyError      409 model_busy           refused: requests in flight, or starting/stopping
    └── EngineStartError    500 engine_start_failed  the engine exited or did not become ready in time; names its log

Library errors (OSError from spawning, httpx errors from probes) are translated here, at the
boundary where the engine is run or probed.
"""

from __future__ import annotations

from hydra_os.errors import HydraError, NotFoundError


class ModelError(HydraError):
    http_status = 400
    code = "model_error"
    exit_code = 2


class UnknownModelError(ModelError, NotFoundError):
    http_status = 404
    code = "unknown_model"
    exit_code = 2


class PlacementError(ModelError):
    http_status = 409
    code = "placement_failed"


class ModelBusyError(ModelError):
    http_status = 409
    code = "model_busy"


class EngineStartError(ModelError):
    http_status = 500
    code = "engine_start_failed"
