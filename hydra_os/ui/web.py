"""What every page route shares: security headers, templates, forms, the session cookie, and the
one place a :class:`HydraError` from a page action becomes a page (its one-line message, never a
trace)."""

from __future__ import annotations

import time
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from fastapi import Request, Response
from fastapi.responses import HTMLResponse
from fastapi.routing import APIRoute
from jinja2 import Environment, PackageLoader, select_autoescape
from loguru import logger

from hydra_os.errors import HydraError
from hydra_os.ui.errors import CsrfError, FormError, UiError

COOKIE = "hydra_ui"
MAX_FORM = 64 * 1024  # the largest form any page sends (a core block edit); larger ones are refused

SECURITY_HEADERS = {
    # no inline script or style anywhere: every script and sheet is a file under /ui/static
    "content-security-policy": "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; "
                               "object-src 'none'",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "x-content-type-options": "nosniff",
    "cache-control": "no-store",
}


def _when(ts: float | None) -> str:
    if not ts:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def _ago(ts: float | None) -> str:
    if not ts:
        return "-"
    d = ts - time.time()
    word = "in " if d > 0 else ""
    s = abs(d)
    text = f"{s:.0f}s" if s < 120 else f"{s / 60:.0f} min" if s < 7200 else f"{s / 3600:.1f} h"
    return f"{word}{text}" + ("" if d > 0 else " ago")


def _mib(n: float | None) -> str:
    return "-" if n is None else f"{n / (1 << 20):,.0f} MiB" if n >= 1 << 20 else f"{n:,.0f} B"


templates = Environment(loader=PackageLoader("hydra_os.ui", "templates"), autoescape=select_autoescape(["html"]),
                        enable_async=False, trim_blocks=True, lstrip_blocks=True)
templates.filters.update(when=_when, ago=_ago, mib=_mib)


def page(name: str, http_status: int = 200, **ctx: Any) -> HTMLResponse:
    return HTMLResponse(templates.get_template(name).render(**ctx), status_code=http_status)


def error_page(request: Request, status: int, message: str, code: str) -> Response:
    """The error page (it has the nav, so the page stays usable), with the security headers. The one
    exception handler (:func:`hydra_os.api.app.hydra_error`) calls it with the error's status."""
    session = getattr(request.state, "session", None)
    response = page("error.html", status, message=message, code=code, signed_in=session is not None,
                    csrf=getattr(session, "csrf", ""))
    _secure(response)
    return response


def _secure(response: Response) -> None:
    for k, v in SECURITY_HEADERS.items():
        response.headers.setdefault(k, v)


class UiRoute(APIRoute):
    """Every /ui response gets the security headers. A HydraError from a page handler goes to the one
    exception handler, which renders it with :func:`error_page` (set on ``request.state``) at the
    error's own status; an unexpected exception is logged and answered with the same page, 500."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        inner = super().get_route_handler()

        async def handler(request: Request) -> Response:
            request.state.error_page = error_page
            try:
                response = await inner(request)
            except HydraError:
                raise  # hydra_os.api.app.hydra_error answers it, rendered by error_page
            except Exception:  # a bug: logged with its trace; the owner gets a page that says where to look
                logger.exception("the web page failed on {} {}", request.method, request.url.path)
                return error_page(request, 500, "the page failed; the daemon's log has the details",
                                  "internal_error")
            _secure(response)
            return response

        return handler


async def read_form(request: Request) -> dict[str, str]:
    """An urlencoded form (first value of each field); bounded, so a page POST cannot be large."""
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            raise FormError(f"the form is larger than {MAX_FORM} bytes")
    try:
        parsed = parse_qs(body.decode(), keep_blank_values=True, max_num_fields=64, strict_parsing=False)
    except (UnicodeDecodeError, ValueError) as e:
        raise FormError(f"the form is not urlencoded text: {e}") from None
    return {k: v[0] for k, v in parsed.items()}


def field(form: dict[str, str], name: str, *, max_len: int = 2000, required: bool = True) -> str:
    value = form.get(name, "").strip()
    if required and not value:
        raise FormError(f"{name}: this field is required")
    if len(value) > max_len:
        raise FormError(f"{name}: at most {max_len} characters, got {len(value)}")
    return value


def origin_of(url: str) -> str:
    p = urlsplit(url)
    return f"{p.scheme}://{p.netloc}".lower()


def check_origin(request: Request, public_url: str | None) -> None:
    """Refuse a browser's POST from another site. Browsers name where a request comes from in
    ``Sec-Fetch-Site`` and ``Origin``; with ``Referrer-Policy: no-referrer`` Chromium sends
    ``Origin: null`` for the page's own forms, so ``Sec-Fetch-Site: same-origin`` vouches then. Both
    absent: not a browser (ntfy's button, curl), which holds no session cookie to abuse."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        raise CsrfError(f"refused a form sent from another site (Sec-Fetch-Site: {site})")
    origin = request.headers.get("origin")
    if origin is None or (origin == "null" and site is not None):
        return
    allowed = {origin_of(str(request.base_url))}
    if public_url:
        allowed.add(origin_of(public_url))
    if origin.lower() not in allowed:
        raise CsrfError(f"refused a form sent from another site ({origin})")


def is_secure(request: Request, public_url: str | None, configured: bool | None) -> bool:
    if configured is not None:
        return configured
    return request.url.scheme == "https" or bool(public_url and public_url.startswith("https://"))


__all__ = ["COOKIE", "SECURITY_HEADERS", "UiError", "UiRoute", "check_origin", "field", "is_secure", "page",
           "read_form"]
