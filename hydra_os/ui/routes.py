"""The pages and form actions under ``/ui``.

Reads and side effects go through the node's own ``/v1`` routes (:class:`~hydra_os.ui.nodeapi.NodeApi`):
the page never reaches into a store or a service the CLI would not. Forms post, act, and redirect
back (303) with a one-line result; the page's script only enhances (the live feed, the approvals
list refreshing itself, Ask's answer growing as the model writes it), everything works without it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any, Protocol

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse, StreamingResponse

from hydra_os.api.sse import STREAM_HEADERS
from hydra_os.component import NodeContext
from hydra_os.errors import HydraError
from hydra_os.node import rpc
from hydra_os.policy.approval_links import ApprovalLinks, LinkRefusedError, Verb
from hydra_os.policy.audit import verify_all
from hydra_os.sections.ui import UiConfig
from hydra_os.ui import views
from hydra_os.ui.errors import (
    ActionFailedError,
    CsrfError,
    FormError,
    NotSignedInError,
    SignInError,
    UiError,
)
from hydra_os.ui.feed import Feed
from hydra_os.ui.nodeapi import NodeApi
from hydra_os.ui.sessions import Session, SessionStore, csrf_ok
from hydra_os.ui.throttle import SignInThrottle
from hydra_os.ui.web import COOKIE, UiRoute, check_origin, field, is_secure, page, read_form
from memory.protocols import MemoryStack, SearchHit


class UiParts(Protocol):
    """What the routes use of the web page's component (:class:`hydra_os.ui.component.UiComponent`)."""

    ctx: NodeContext
    config: UiConfig
    sessions: SessionStore
    throttle: SignInThrottle
    links: ApprovalLinks
    feed: Feed

    def api(self, request: Request) -> NodeApi: ...

    async def memory(self) -> MemoryStack: ...

    def credentials_ok(self, offered: str) -> bool: ...

    def session_of(self, request: Request) -> Session | None: ...

_STATIC_TYPES = {".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".svg": "image/svg+xml"}


def _static_files() -> dict[str, tuple[bytes, str]]:
    """The page's own CSS and JS, read once (a handful of KiB) and served from memory."""
    out: dict[str, tuple[bytes, str]] = {}
    for f in resources.files("hydra_os.ui").joinpath("static").iterdir():
        suffix = f.name[f.name.rfind("."):]
        if suffix in _STATIC_TYPES:
            out[f.name] = (f.read_bytes(), _STATIC_TYPES[suffix])
    return out


def _back(to: str) -> RedirectResponse:
    return RedirectResponse(to, status_code=303)


def build_router(ui: UiParts) -> APIRouter:
    r = APIRouter(prefix="/ui", route_class=UiRoute, include_in_schema=False)
    static = _static_files()

    def signed_in(request: Request) -> Session:
        s = ui.session_of(request)
        if s is None:
            raise NotSignedInError("sign in first")
        request.state.session = s
        return s

    async def checked_form(request: Request) -> tuple[Session, dict[str, str]]:
        """The session and form of a state-changing request: same origin, the session's CSRF token."""
        s = signed_in(request)
        check_origin(request, ui.config.public_url)
        form = await read_form(request)
        if not csrf_ok(s, form.get("csrf")):
            raise CsrfError("the form's CSRF token is missing or wrong; reload the page and try again")
        return s, form

    def show(request: Request, name: str, s: Session, **ctx: Any) -> Response:
        # the approvals list refreshing itself (ui.js, ?refresh=1) must not eat a form's result that the
        # browser is about to show after its redirect
        note = None if request.query_params.get("refresh") else ui.sessions.take_flash(s.id)
        return page(name, signed_in=True, csrf=s.csrf, flash=note, path=request.url.path, **ctx)

    async def act(request: Request, back: str, do: Callable[[dict[str, str]], Awaitable[str]]) -> Response:
        """Run a form's action; its one-line result (or the node's one-line error) shows on ``back``."""
        s, form = await checked_form(request)
        try:
            ui.sessions.flash(s.id, await do(form), error=False)
        except HydraError as e:  # every deliberate error is one line for the owner
            ui.sessions.flash(s.id, str(e), error=True)
        return _back(back)

    # ---- sign-in ---------------------------------------------------------------------------
    @r.get("/login")
    async def login_page(request: Request) -> Response:
        if ui.session_of(request) is not None:
            return _back("/ui/")
        return page("login.html", signed_in=False)

    @r.post("/login")
    async def login(request: Request) -> Response:
        check_origin(request, ui.config.public_url)
        client = request.client.host if request.client else "?"
        resp: Response
        try:
            ui.throttle.check(client)
            offered = field(await read_form(request), "secret", max_len=512)
            if not ui.credentials_ok(offered):
                ui.throttle.failed(client)
                raise SignInError("wrong API token or UI password")
        except UiError as e:
            resp = page("login.html", e.http_status, signed_in=False, error=str(e))
            if retry := getattr(e, "retry_after", None):
                resp.headers["retry-after"] = str(max(1, round(retry)))
            return resp
        ui.throttle.succeeded(client)
        s = ui.sessions.create()
        resp = _back("/ui/")
        resp.set_cookie(COOKIE, s.id, max_age=int(ui.config.session_ttl), path="/ui", httponly=True,
                        samesite="strict", secure=is_secure(request, ui.config.public_url, ui.config.secure_cookie))
        return resp

    @r.post("/logout")
    async def logout(request: Request) -> Response:
        s, _ = await checked_form(request)
        ui.sessions.end(s.id)
        resp = _back("/ui/login")
        resp.delete_cookie(COOKIE, path="/ui")
        return resp

    @r.get("/static/{name}")
    async def asset(name: str) -> Response:
        if name not in static:
            return Response("not found", status_code=404, media_type="text/plain")
        body, ctype = static[name]
        return Response(body, media_type=ctype, headers={"cache-control": "max-age=3600"})

    # ---- pages -----------------------------------------------------------------------------
    @r.get("")
    @r.get("/")
    async def overview(request: Request) -> Response:
        s = ui.session_of(request)
        if s is None:
            return _back("/ui/login")
        request.state.session = s
        found, models = await asyncio.gather(
            views.overview(ui.api(request)), views.models(ui.ctx.bus, ui.ctx.settings.membership.gone_after))
        return show(request, "overview.html", s, **found, **models)

    @r.get("/approvals")
    async def approvals(request: Request) -> Response:
        s = signed_in(request)
        return show(request, "approvals.html", s, **await views.approvals(ui.api(request)))

    @r.post("/approvals/{approval_id}/{verb}")
    async def decide(request: Request, approval_id: str, verb: Verb) -> Response:
        async def do(form: dict[str, str]) -> str:
            note = field(form, "note", max_len=500, required=False) or "from Mission Control"
            res = await ui.api(request).post(f"/v1/approvals/{approval_id}/{verb.value}", {"note": note})
            return f"approval {approval_id}: {res['approval']['state']}"
        return await act(request, "/ui/approvals", do)

    @r.get("/feed")
    async def feed(request: Request) -> Response:
        s = signed_in(request)
        return show(request, "feed.html", s, type_filter=request.query_params.get("type", "")[:64],
                    audit=ui.feed.watch.status)

    @r.get("/feed/stream")
    async def feed_stream(request: Request) -> Response:
        signed_in(request)
        if ui.feed.full():
            return Response("too many live pages open", status_code=503, media_type="text/plain",
                            headers={"retry-after": "10"})
        prefix = request.query_params.get("type", "")[:64]
        return StreamingResponse(ui.feed.stream(prefix), media_type="text/event-stream",
                                 headers={"x-accel-buffering": "no"})

    @r.get("/audit")
    async def audit(request: Request) -> Response:
        s = signed_in(request)
        async with asyncio.timeout(60):
            reports = await verify_all(ui.ctx.bus)
        return show(request, "audit.html", s, reports=[rep.as_dict() for rep in reports.values()])

    @r.get("/tasks")
    async def tasks(request: Request) -> Response:
        s = signed_in(request)
        return show(request, "tasks.html", s, **await views.tasks(ui.api(request)))

    @r.post("/tasks/{task_id}/{verb}")
    async def task_action(request: Request, task_id: str, verb: str) -> Response:
        async def do(form: dict[str, str]) -> str:
            if verb not in ("cancel", "retry"):
                raise UiError(f"verb: expected cancel or retry, got {verb!r}")
            t = await ui.api(request).post(f"/v1/tasks/{task_id}/{verb}")
            return f"task {task_id}: {t['state']}"
        return await act(request, "/ui/tasks", do)

    @r.post("/schedule")
    async def add_job(request: Request) -> Response:
        async def do(form: dict[str, str]) -> str:
            job = {"id": field(form, "id", max_len=64), "kind": field(form, "kind", max_len=128),
                   "cron": field(form, "cron", max_len=100)}
            res = await ui.api(request).post("/v1/schedule", job, title=field(form, "title", max_len=300,
                                                                                required=False))
            return f"job {job['id']} added; next run {res.get('next_run', '?')}"
        return await act(request, "/ui/tasks", do)

    @r.get("/memory")
    async def memory(request: Request) -> Response:
        s = signed_in(request)
        qp = request.query_params
        q = qp.get("q", "").strip()[:500]
        hits, err = (await ui.api(request).optional("/v1/memory/search", q=q, limit=20)) if q else ([], None)
        more = await views.memory(ui.memory, qp.get("entity", "").strip()[:200], qp.get("at", "").strip()[:40],
                                  ui.ctx.settings.owner.timezone)
        found = [SearchHit.model_validate(h) for h in hits or []]  # GET /v1/memory/search: SearchHit dumps
        return show(request, "memory.html", s, q=q, hits=found, error=err, **more)

    @r.post("/memory/core/{label}")
    async def core_edit(request: Request, label: str) -> Response:
        async def do(form: dict[str, str]) -> str:
            value = form.get("value", "").replace("\r\n", "\n")
            block = await (await ui.memory()).core.rewrite(label, value)
            return f"{block.label}: {len(block.value)}/{block.limit} characters saved"
        return await act(request, "/ui/memory", do)

    @r.get("/ask")
    async def ask_page(request: Request) -> Response:
        return show(request, "ask.html", signed_in(request))

    @r.post("/ask")
    async def ask(request: Request) -> Response:
        s, form = await checked_form(request)
        text = field(form, "text", max_len=4000)
        try:
            reply, err = await ui.api(request).post("/v1/requests", {"text": text}), None
        except UiError as e:
            reply, err = None, str(e)
        return show(request, "ask.html", s, text=text, reply=reply, error=err)

    @r.post("/ask/stream")
    async def ask_stream(request: Request) -> Response:
        """The Ask page's script sends the same form here and reads the answer as it is written: the
        server-sent events of ``POST /v1/requests`` with ``stream: true``, relayed as they come. An error
        before the stream starts is the error page (its one line in ``role="alert"``), as for the form."""
        _, form = await checked_form(request)
        text = field(form, "text", max_len=4000)
        body = await ui.api(request).stream("/v1/requests", {"text": text, "stream": True})
        return StreamingResponse(body, media_type="text/event-stream", headers=STREAM_HEADERS)

    @r.get("/healing")
    async def healing(request: Request) -> Response:
        s = signed_in(request)
        found, models = await asyncio.gather(
            views.healing(ui.api(request)), views.models(ui.ctx.bus, ui.ctx.settings.membership.gone_after))
        return show(request, "healing.html", s, **found, **models)

    @r.post("/models/{node}/{model_id}/{verb}")
    async def model_action(request: Request, node: str, model_id: str, verb: str) -> Response:
        """Start or stop a model: the node RPC verbs ``hydra models start|stop`` call (the manager
        places it, checks free VRAM, and takes evictions through the policy gate)."""
        async def do(form: dict[str, str]) -> str:
            if verb == "start":
                st = await rpc.call(ui.ctx.bus, node, "models.start", {"id": model_id, "evict": False}, timeout=60)
            elif verb == "stop":
                st = await rpc.call(ui.ctx.bus, node, "models.stop", {"id": model_id, "force": False}, timeout=120)
            else:
                raise FormError(f"verb: expected start or stop, got {verb!r}")
            return f"{model_id} on {st.get('node', node)}: {st.get('state', '?')}"
        return await act(request, "/ui/healing", do)

    @r.post("/healing/run")
    async def run_checks(request: Request) -> Response:
        async def do(form: dict[str, str]) -> str:
            res = await ui.api(request).post("/v1/healing/run")
            return f"checks ran: {len(res.get('incidents', []))} incident(s) touched"
        return await act(request, "/ui/healing", do)

    @r.get("/briefing")
    async def briefing(request: Request) -> Response:
        s = signed_in(request)
        name = request.query_params.get("name", "")[:200]
        return show(request, "briefing.html", s, **await asyncio.to_thread(views.briefings, ui.ctx.settings, name))

    # ---- phone links (no session: the link itself is the capability) -----------------------
    @r.get("/link/{token}")
    async def link_page(request: Request, token: str) -> Response:
        try:
            claim = ui.links.read(token)
        except LinkRefusedError as e:
            return page("link.html", e.http_status, error=str(e), signed_in=False)
        rec, err = await ui.api(request).optional(f"/v1/approvals/{claim.approval_id}")
        return page("link.html", claim=claim, approval=rec, error=err, token=token, signed_in=False)

    @r.post("/link/{token}")
    async def link_use(request: Request, token: str) -> Response:
        check_origin(request, ui.config.public_url)
        try:
            claim = ui.links.claim(token)
        except LinkRefusedError as e:
            return page("link.html", e.http_status, error=str(e), signed_in=False)
        await asyncio.to_thread(ui.links.record, claim)
        try:
            res = await ui.api(request).post(f"/v1/approvals/{claim.approval_id}/{claim.verb.value}",
                                             {"note": "phone link"})
        except ActionFailedError as e:  # the approvals route's answer (409: already decided or expired)
            return page("link.html", e.status, error=str(e), signed_in=False)
        return page("link.html", done=res["approval"], signed_in=False)

    return r
