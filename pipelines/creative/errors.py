"""Errors of the creative studio. Each carries its wire form (``http_status``, ``code``) so the one API
exception handler and the bus verb report them the same way."""

from __future__ import annotations

from typing import ClassVar

from hydra_os.errors import HydraError, NotFoundError


class CreativeError(HydraError):
    """Base of the creative studio's deliberate errors."""

    http_status: ClassVar[int] = 400
    code: ClassVar[str] = "creative_error"


class CreativeNotFoundError(CreativeError, NotFoundError):
    """A project, character, place, chapter, scene, image or line that does not exist."""

    http_status: ClassVar[int] = 404
    code: ClassVar[str] = "creative_not_found"


class CreativeConflictError(CreativeError):
    """The change contradicts the project: a duplicate id or name, a reference to something missing."""

    http_status: ClassVar[int] = 409
    code: ClassVar[str] = "creative_conflict"


class CreativeInputError(CreativeError):
    """A request's field is invalid; the message names the field and what was expected."""

    http_status: ClassVar[int] = 422
    code: ClassVar[str] = "creative_invalid"


class ComfyError(CreativeError):
    """ComfyUI refused or failed a job (validation ``node_errors``, ``execution_error``, a dead server)."""

    http_status: ClassVar[int] = 502
    code: ClassVar[str] = "comfyui_error"


class ComfyUnavailableError(ComfyError):
    """No ComfyUI server answered in time; the job may be retried later."""

    http_status: ClassVar[int] = 503
    code: ClassVar[str] = "comfyui_unavailable"


class WorkflowError(CreativeError):
    """A workflow template or its slot file is wrong, or names nodes/inputs the server does not have."""

    http_status: ClassVar[int] = 422
    code: ClassVar[str] = "workflow_invalid"


class VoiceError(CreativeError):
    """Text-to-speech failed (espeak-ng exited non-zero, the speech server refused, bad audio)."""

    http_status: ClassVar[int] = 502
    code: ClassVar[str] = "voice_error"


class ExportError(CreativeError):
    """The Ren'Py export would not parse, or a referenced file is missing."""

    http_status: ClassVar[int] = 422
    code: ClassVar[str] = "renpy_invalid"
