"""Doing what a classified request asks. Each outcome is one :class:`~hydra_os.intake.model.Reply` whose
``reply`` says in one sentence what was done and when."""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from loguru import logger

from hydra_os.bus.patience import patiently
from hydra_os.chat.errors import ChatError
from hydra_os.errors import HydraError
from hydra_os.intake import ops, ops_exec
from hydra_os.intake.creative import plan_request
from hydra_os.intake.deps import IntakeDeps
from hydra_os.intake.model import ASK_VERB, Reply, RequestIn
from hydra_os.intake.rules import Intent
from hydra_os.node import rpc
from hydra_os.policy.model import Action, Executor, OutcomeStatus
from hydra_os.scheduler.errors import JobExistsError
from hydra_os.scheduler.jobs import next_fire
from hydra_os.scheduler.store import ScheduleStore, StoredJob, add_stored
from hydra_os.sections.scheduler import JobDef
from hydra_os.tasks.model import Task, TaskSpec
from memory.archiver import Exchange, keep_statements
from memory.context import MemoryContext
from memory.conversation import assemble, conversation_id, merge_system, provenance_header, quote_answer
from memory.errors import MemoryLayerError
from memory.extract import MemoryWriter
from memory.protocols import utcnow
from memory.statements import asks


async def execute(svc: IntakeDeps, intent: Intent, base: Reply, req: RequestIn) -> Reply:
    handler = {"answer": _answer, "task": _task, "pipeline": _pipeline, "ops": _ops, "remember": _remember,
               "clarify": _clarify}[intent.intent]
    return await handler(svc, intent, base, req)


def _upd(base: Reply, **kw: Any) -> Reply:
    return base.model_copy(update=kw)


async def _clarify(svc: IntakeDeps, intent: Intent, base: Reply, req: RequestIn) -> Reply:
    q = intent.question or "What exactly should I do?"
    return _upd(base, status="clarify", question=q, reply=q)


@dataclass(frozen=True, slots=True)
class Prompt:
    """What a model is asked an answer with: the messages (memory in the system message), and the notes."""

    messages: list[dict[str, Any]]
    notes: list[str]


async def prepare_answer(svc: IntakeDeps, base: Reply, req: RequestIn) -> Reply | Prompt:
    """Everything of an answer but the model's call, shared by the whole and the streamed answer: memory
    for the question (the same assembly as the gateway's hydra/assistant), what the owner stated kept, and
    with no model up a final reply (a quotation of the best matching memory, never a made-up one)."""
    notes = list(base.notes)
    ctx: MemoryContext | None = None
    if svc.config.memory_context and svc.memory is not None:
        try:
            ctx = await assemble(await svc.memory(), svc.settings.memory.context, req.text,
                                 deadline_s=svc.settings.memory.service.request_timeout_s)
            notes.extend(ctx.warnings)
        except (MemoryLayerError, HydraError, TimeoutError) as e:
            notes.append(f"answered without memory: {e or 'memory timed out'}")
        try:  # what the owner states while asking is kept, as in a hydra/assistant chat
            writer = MemoryWriter(await svc.memory(), None, owner=svc.settings.owner.name)
            if kept := await keep_statements(writer, req.text, utcnow()):
                notes.append("kept what you said about your preferences or projects in memory")
                if not asks(req.text):  # "call me Sam" asks nothing: say what was kept, quote nothing
                    _keep_turn(svc, req, "")
                    return _upd(base, status="remembered", notes=notes,
                                reply=f"Noted, and kept in memory: {kept.describe()}.")
        except (MemoryLayerError, HydraError) as e:
            notes.append(f"not kept in memory: {e}")
    if svc.chat is None or not await svc.chat.available():
        if ctx is not None:
            _keep_turn(svc, req, "")  # the owner's turn, not the quotation (it says nothing new)
            quoted = quote_answer(ctx)
            return _upd(base, status="answered", answer=quoted, reply=quoted,
                        notes=[*notes, "no model is available: quoted from memory",
                               f"x-hydra-memory: {provenance_header(ctx)}"])
        return _upd(base, status="failed", reply="I cannot answer that now: no model is available to answer with.",
                    notes=[*notes, "no model is available"])
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "You are Hydra, the owner's homelab assistant. Answer briefly and concretely."},
        {"role": "user", "content": req.text},
    ]
    if ctx is not None and ctx.items:
        messages = merge_system(messages, ctx.render())
    return Prompt(messages, notes)


def answered(svc: IntakeDeps, base: Reply, req: RequestIn, prompt: Prompt, answer: str) -> Reply:
    """The reply to a model's whole answer; the exchange goes to memory (both turns, the owner's with its
    extracted facts) off the request path, as the gateway's hydra/assistant archives a finished chat. A
    stream that broke off never gets here: nothing is archived for it, as for the gateway's."""
    _keep_turn(svc, req, answer)
    return _upd(base, status="answered", answer=answer, reply=answer, notes=prompt.notes)


def _keep_turn(svc: IntakeDeps, req: RequestIn, answer: str) -> None:
    """The exchange into memory off the request path, through the archiver the gateway's hydra/assistant
    uses (an empty ``answer`` keeps the owner's turn only). Its statements were kept already."""
    if svc.archiver is not None:
        conv = conversation_id(req.session, None, [{"role": "user", "content": req.text}])
        svc.archiver.submit(Exchange(conv, req.text, answer, utcnow(), svc.config.model, statements=False))


async def _answer(svc: IntakeDeps, intent: Intent, base: Reply, req: RequestIn) -> Reply:
    prompt = await prepare_answer(svc, base, req)
    if isinstance(prompt, Reply):
        return prompt
    assert svc.chat is not None
    try:
        answer = await svc.chat.chat(prompt.messages, max_tokens=svc.config.answer_max_tokens)
    except ChatError as e:
        return _upd(base, status="failed", reply=f"I could not get an answer: {e}.", notes=prompt.notes)
    return answered(svc, base, req, prompt, answer)


async def _kinds_served(svc: IntakeDeps) -> set[str]:
    try:
        return {k for ks in (await svc.queue.store.worker_kinds()).values() for k in ks}
    except HydraError:
        return set()


def _spec(svc: IntakeDeps, intent: Intent, kind: str, params: dict[str, Any], title: str,
          req: RequestIn, priority: int = 1) -> TaskSpec:
    w = intent.when
    return TaskSpec(
        kind=kind, params=params, title=title[:300], source="intake", priority=priority,
        window="overnight" if w is not None and w.kind == "window" else None,
        not_before=w.at.timestamp() if w is not None and w.kind == "at" and w.at is not None else None,
        idempotency_key=f"intake:{req.request_id}" if req.request_id else None,
    )


async def _queue(svc: IntakeDeps, intent: Intent, base: Reply, spec: TaskSpec, what: str) -> Reply:
    notes = list(base.notes)
    res = await svc.queue.enqueue(spec)
    t = res.task
    if not res.created:
        notes.append(f"request {spec.idempotency_key} was sent before; this is the task it queued then")
    if spec.kind not in await _kinds_served(svc):
        notes.append(f"no live worker handles {spec.kind} yet; the task waits until one does")
    return _upd(base, status="queued", task_id=t.id, notes=notes,
                reply=f"Queued {what} as task {t.id}, to run {_runs(svc, t, intent)}.")


def _runs(svc: IntakeDeps, t: Task, intent: Intent) -> str:
    """When the queue will start it, in words (the queue's window, not the parser's guess, decides)."""
    now = time.time()
    due = svc.queue.windows.eligible_at(t, now)
    tz = ZoneInfo(svc.settings.owner.timezone)
    if t.window is not None:
        window = svc.queue.windows.by_name[t.window]
        if due <= now + 1:
            until = datetime.fromtimestamp(window.next_close(now), tz)
            return f"now, inside the {t.window} window (open until {until:%H:%M %Z})"
        return f"in the {t.window} window, from {datetime.fromtimestamp(due, tz):%a %d %b %H:%M %Z}"
    if due > now + 1:
        return f"at {datetime.fromtimestamp(due, tz):%a %d %b %H:%M %Z}"
    return "now, as soon as a worker is free"


async def _task(svc: IntakeDeps, intent: Intent, base: Reply, req: RequestIn) -> Reply:
    w = intent.when
    kind = svc.config.research_kind if intent.kind == "research" else svc.config.reminder_kind
    if w is not None and w.kind == "recurring":
        if intent.kind == "reminder":
            return await _recurring(svc, intent, base, kind, {"text": intent.subject},
                                    f"a reminder to {intent.subject}")
        return await _recurring(svc, intent, base, kind, {"topic": intent.subject},
                                f"research on \"{intent.subject}\"")
    if intent.kind == "reminder":
        spec = _spec(svc, intent, kind, {"text": intent.subject}, f"reminder: {intent.subject}", req, priority=2)
        return await _queue(svc, intent, base, spec, f"a reminder to {intent.subject}")
    spec = _spec(svc, intent, kind, {"topic": intent.subject}, f"research: {intent.subject}", req)
    return await _queue(svc, intent, base, spec, f"research on \"{intent.subject}\"")


def recurring_job_id(kind: str, cron: str, subject: str) -> str:
    """The same request (kind, schedule, subject) always names the same job, so asking twice adds one job."""
    slug = re.sub(r"[^a-z0-9]+", "-", subject.lower()).strip("-")[:32].strip("-") or "job"
    digest = hashlib.sha256(f"{kind}|{cron}|{subject.lower()}".encode()).hexdigest()[:6]
    return f"req-{slug}-{digest}"


async def _recurring(svc: IntakeDeps, intent: Intent, base: Reply, kind: str, params: dict[str, Any],
                     what: str) -> Reply:
    """``every Monday at 9 ...``: a recurring job in the scheduler (the hydra_schedule bucket)."""
    w = intent.when
    assert w is not None
    cron = " ".join(w.cron.get(f, "*") for f in ("minute", "hour", "day", "month", "day_of_week"))
    job = JobDef(id=recurring_job_id(kind, cron, intent.subject), kind=kind, params=params,
                 priority=2 if intent.kind == "reminder" else 1, cron=cron)
    tz = ZoneInfo(svc.settings.owner.timezone)
    store = ScheduleStore(svc.queue.bus)
    notes = list(base.notes)
    try:
        # safe to repeat: the add finds an earlier try's record by its bytes (the same created_at)
        stored_job = StoredJob(job=job, source="intake", title=what[:300])
        out = await patiently(lambda: add_stored(store, stored_job, tz.key), svc.settings.tasks.enqueue_patience_s,
                              f"scheduling job {job.id}")
        nxt = datetime.fromisoformat(out["next_run"]) if out["next_run"] else None
        done = "Scheduled"
    except JobExistsError:
        stored: StoredJob = await store.get(job.id)
        nxt = next_fire(stored.job, tz)
        done = "Already scheduled"
        notes.append(f"the same request was scheduled before as job {job.id}; nothing new was added")
    if kind not in await _kinds_served(svc):
        notes.append(f"no live worker handles {kind} yet; the scheduler skips its runs until one does")
    when = f"{nxt:%a %d %b %H:%M %Z}" if nxt else "never (the schedule has no future time)"
    return _upd(base, status="scheduled", job_id=job.id, next_run=nxt.isoformat() if nxt else None, notes=notes,
                reply=(f"{done} {what} {w.describe} as job {job.id}; it next runs {when} "
                       f"('hydra schedule remove {job.id}' stops it)."))


async def _pipeline(svc: IntakeDeps, intent: Intent, base: Reply, req: RequestIn) -> Reply:
    if intent.kind == "briefing":
        kind = svc.settings.tasks.scheduler.briefing_kind
        spec = TaskSpec(kind=kind, params={"requested": True}, priority=2, title="briefing (asked for)",
                        source="intake")
        res = await svc.queue.enqueue(spec)
        channels = ", ".join(svc.config.briefing.deliver)
        notes = list(base.notes)
        if kind not in await _kinds_served(svc):
            notes.append(f"no live worker handles {kind} yet; the briefing waits until one does")
        return _upd(base, status="started", task_id=res.task.id, notes=notes,
                    reply=f"Started the briefing now as task {res.task.id}; it goes to {channels}.")
    plan = await plan_request(svc.queue.bus, svc.node_id, intent.subject, await _kinds_served(svc),
                              overnight=svc.settings.creative.overnight)
    if plan is None:
        return _upd(base, status="unsupported",
                    reply="No live worker runs the creative pipeline (creative.scene / creative.assets), "
                          "so nothing was queued; enable [creative] on a node.")
    spec = _spec(svc, intent, plan.kind, plan.params, f"creative: {intent.subject}", req)
    if plan.window is not None:
        spec = spec.model_copy(update={"window": plan.window})
    return await _queue(svc, intent, base, spec, plan.what)


async def _ops(svc: IntakeDeps, intent: Intent, base: Reply, req: RequestIn) -> Reply:
    p = ops.plan(intent.kind or "", intent.subject, svc.node_id)
    if p is None:
        q = "Which service should I act on? Name the unit, e.g. 'restart ollama'."
        return _upd(base, status="clarify", question=q, reply=q)
    if svc.gate is None:
        return _upd(base, status="failed", reply="The policy gate is not running on this node; nothing was done.")
    if intent.when is not None and intent.when.kind != "now":
        return await _ops_later(svc, intent, base, req, p)
    if intent.kind in ("model.stop", "model.start"):
        return await _model_op(svc, intent, base, unload=intent.kind == "model.stop")
    if intent.kind == "disk.clean":
        return await _disk_op(svc, intent, base, req)
    if not p.executable:
        d = svc.gate.decide(p.action)
        how = f" Do it with: {p.manual}." if p.manual else ""
        return _upd(base, status="unsupported", decision=d.model_dump(mode="json"),
                    reply=(f"I understood {p.action.kind} ({intent.subject}), which the policy rates "
                           f"{d.level.value} ({d.rule_id}), but requests cannot run it yet; nothing was done.{how}"))
    return await _submit(svc, base, p.action, None)


def _nodes(svc: IntakeDeps) -> dict[str, list[str]]:
    return svc.nodes() if svc.nodes is not None else {}


async def _model_op(svc: IntakeDeps, intent: Intent, base: Reply, *, unload: bool) -> Reply:
    """Load or unload a model on the GPU node whose manager knows it."""
    gpu_nodes = sorted(n for n, roles in _nodes(svc).items() if "gpu" in roles) or [svc.node_id]
    chosen = ops_exec.pick_model(await ops_exec.list_models(svc.queue.bus, gpu_nodes), intent.subject,
                                 running=unload)
    if isinstance(chosen, str):
        q = f"Which model should I {'unload' if unload else 'load'}? {chosen[0].upper()}{chosen[1:]}."
        return _upd(base, status="clarify", question=q, reply=q)
    action, executor = ops_exec.model_action(svc.queue.bus, chosen, unload=unload)
    return await _submit(svc, base, action, executor)


async def _disk_op(svc: IntakeDeps, intent: Intent, base: Reply, req: RequestIn) -> Reply:
    """Free disk here by emptying the configured caches, or hand the request to the node it names."""
    target = ops_exec.target_node(intent.subject, _nodes(svc))
    if target is not None and target != svc.node_id:
        return await _forward(svc, base, target, req)
    made = ops_exec.disk_action(svc.node_id, svc.settings.healing.cache_dirs)
    if isinstance(made, str):
        return _upd(base, status="unsupported", reply=f"Nothing was done: {made}.")
    return await _submit(svc, base, *made)


async def _forward(svc: IntakeDeps, base: Reply, node: str, req: RequestIn) -> Reply:
    """An operation on another node: that node's intake plans it and its own policy gate decides."""
    params: dict[str, Any] = {"text": req.text}
    if req.request_id:
        params["request_id"] = req.request_id
    try:
        out = await rpc.call(svc.queue.bus, node, ASK_VERB, params, timeout=svc.config.timeout_s + 30)
    except HydraError as e:
        return _upd(base, status="failed", reply=f"Node {node} did not take the request: {e}; nothing was done.")
    reply = Reply.model_validate(out)
    return reply.model_copy(update={"notes": [*reply.notes, f"handled by node {node}'s intake and policy gate"]})


async def _submit(svc: IntakeDeps, base: Reply, action: Action, executor: Executor | None) -> Reply:
    assert svc.gate is not None
    out = await svc.gate.submit(action, executor)
    d = out.decision
    dec = {**d.model_dump(mode="json"), "status": out.status.value}
    what = action.summary.removesuffix(" (asked by the owner)")
    if out.status is OutcomeStatus.SUCCEEDED:
        freed = (out.result or {}).get("freed_bytes")
        extra = f"; freed {freed / 1e6:.1f} MB" if isinstance(freed, int) else ""
        return _upd(base, status="done", decision=dec,
                    reply=f"Done: {what} just now ({d.level.value}, {d.rule_id}){extra}.")
    if out.status is OutcomeStatus.PENDING:
        return _upd(base, status="pending-approval", decision=dec, approval_id=out.approval_id,
                    reply=(f"Waiting for approval {out.approval_id} to {what} ({d.reason}); approve with "
                           f"'hydra approve {out.approval_id}'."))
    if out.status is OutcomeStatus.REFUSED:
        return _upd(base, status="refused", decision=dec, reply=f"Refused to {what}: {d.reason}.")
    if out.status is OutcomeStatus.DEFERRED:
        return _upd(base, status="deferred", decision=dec,
                    reply=f"Not now: {what} is in backoff; try again in {out.retry_after or 0:.0f}s.")
    if out.status is OutcomeStatus.SUPPRESSED:
        return _upd(base, status="refused", decision=dec, reply=f"Not done: {d.reason}.")
    return _upd(base, status="failed", decision=dec, reply=f"Tried to {what} just now, but it failed: {out.error}.")


async def _ops_later(svc: IntakeDeps, intent: Intent, base: Reply, req: RequestIn, p: ops.OpsPlan) -> Reply:
    """``restart ollama tonight``: a task that hands the request to this node's intake when it runs, so the
    policy gate decides then (with the maintenance windows, budgets and approvals of that moment)."""
    assert svc.gate is not None
    w = intent.when
    if w is not None and w.kind == "recurring":
        return _upd(base, status="unsupported",
                    reply=f"Repeating operations ({w.describe}) are not scheduled from requests; nothing was done. "
                          f"Ask for it once, e.g. '{intent.subject} tonight'.")
    d = svc.gate.decide(p.action)
    spec = _spec(svc, intent, svc.config.ops_kind, {"request": intent.subject, "node": svc.node_id},
                 f"ops: {intent.subject}", req, priority=2)
    reply = await _queue(svc, intent, base, spec, f"\"{intent.subject}\"")
    return reply.model_copy(update={
        "decision": d.model_dump(mode="json"),
        "reply": reply.reply.removesuffix(".") + f"; the policy decides when it runs (today: {d.level.value}).",
    })


async def _remember(svc: IntakeDeps, intent: Intent, base: Reply, req: RequestIn) -> Reply:
    if svc.memory is None:
        return _upd(base, status="failed", reply="Memory is not reachable from this node; nothing was stored.")
    try:
        stack = await svc.memory()
        writer = MemoryWriter(stack, svc.extractor, owner=svc.settings.owner.name)
        # the one set of statement rules (memory.statements), as the gateway's hydra/assistant reads a chat
        kept = await keep_statements(writer, intent.subject, utcnow())
        if kept.preferences:  # "remember that I prefer metric units", "my favourite editor is now Neovim"
            said = "; ".join(f"{p.key.replace('_', ' ')}: {p.value}" for p in kept.preferences)
            return _upd(base, status="remembered", reply=f"Remembered your preference ({said}).")
        done = await writer.remember(intent.subject, source="owner", tags=["remembered"], session=req.session)
    except (MemoryLayerError, HydraError) as e:
        logger.warning("intake: remembering failed: {}", e)
        return _upd(base, status="failed", reply=f"I could not store that: {e}.")
    extra = f" and {len(done.relations)} facts in the graph" if done.relations else ""
    already = "already knew" if done.passage.status == "duplicate" else "remembered"
    return _upd(base, status="remembered", reply=f"I {already} that: \"{intent.subject}\"{extra}.")

