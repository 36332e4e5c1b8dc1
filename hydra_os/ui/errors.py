"""Errors of the web page. Each carries its wire form (``http_status``, ``code``) as the seams
convention asks; the page shows ``str(err)``, one line, never a trace."""

from __future__ import annotations

from typing import ClassVar

from hydra_os.errors import HydraError


class UiError(HydraError):
    http_status: ClassVar[int] = 400
    code: ClassVar[str] = "ui_error"


class SignInError(UiError):
    """Wrong API token or UI password."""

    http_status = 401
    code = "bad_credentials"


class SignInThrottledError(UiError):
    """Too many wrong sign-ins from this client (or from everyone) lately."""

    http_status = 429
    code = "sign_in_throttled"

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class NotSignedInError(UiError):
    http_status = 401
    code = "not_signed_in"


class CsrfError(UiError):
    """A state-changing request without the page's CSRF token, or from another origin."""

    http_status = 403
    code = "csrf_refused"


class ActionFailedError(UiError):
    """What the node API answered when an action from the page failed (its one-line message)."""

    code = "action_failed"

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status

    def wire_status(self) -> int:
        return self.status  # the node API's own answer (404, 409, 422...), relayed to the page


class FormError(UiError):
    """A form field is missing or malformed (names the field)."""

    http_status = 422
    code = "bad_form"
