"""The recurring jobs: built-in ones from the owner's settings, plus the owner's own from config.

Every job fires for a *slot* (its scheduled time). A task job enqueues one task with the idempotency
key ``sched:<job>:<slot>``, so a slot runs once however many leaders fire it (a leader change, a
catch-up after a restart). A job whose task kind no live worker handles yet is skipped and says so
(``hydra schedule list``) instead of piling up tasks nobody can run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from hydra_os.config import Settings
from hydra_os.sections.scheduler import JobDef
from hydra_os.sections.tasks import TasksConfig

ANCHOR = datetime(2020, 1, 6, tzinfo=ZoneInfo("UTC"))  # interval slots are aligned to this instant
TASK, CALL = "task", "call"
BACKUP_AFTER_MIN = 30  # the nightly backup starts this long after the overnight window opens


@dataclass(frozen=True)
class Job:
    id: str
    description: str
    trigger: BaseTrigger
    grace_s: float
    target: str  # TASK: enqueue ``kind``; CALL: run the scheduler's callable named ``kind``
    kind: str
    params: dict[str, object] | None = None
    priority: int = 1
    window: str | None = None
    gpu_vram_mb: int = 0
    source: str = "config"  # builtin, config, or runtime (the hydra_schedule bucket)
    created_at: float | None = None  # runtime jobs: slots before this are not theirs to run

    @property
    def every_s(self) -> float | None:
        if isinstance(self.trigger, IntervalTrigger):
            return float(self.trigger.interval.total_seconds())
        return None


def _hm(value: str) -> tuple[int, int]:
    h, m = value.split(":")
    return int(h), int(m)


def _daily(hhmm: str, tz: ZoneInfo, minus_min: int = 0) -> CronTrigger:
    h, m = _hm(hhmm)
    total = (h * 60 + m - minus_min) % (24 * 60)
    return CronTrigger(hour=total // 60, minute=total % 60, timezone=tz)


def interval(seconds: float, tz: ZoneInfo) -> IntervalTrigger:
    return IntervalTrigger(seconds=seconds, start_date=ANCHOR, timezone=tz)


def build_jobs(settings: Settings, tasks: TasksConfig) -> list[Job]:
    sc, owner = tasks.scheduler, settings.owner
    tz = ZoneInfo(owner.timezone)
    jobs: list[Job] = []
    if "health" in sc.builtin_jobs:
        jobs.append(Job("health", "health loop: one cluster health sweep", interval(sc.health_interval_s, tz),
                        grace_s=sc.health_interval_s, target=TASK, kind=sc.health_kind, priority=2,
                        source="builtin"))
    if "briefing" in sc.builtin_jobs:
        jobs.append(Job("briefing", f"morning briefing, ready by {owner.wake_time}",
                        _daily(owner.wake_time, tz, sc.briefing_lead_min), grace_s=6 * 3600, target=TASK,
                        kind=sc.briefing_kind, priority=2, source="builtin"))
    if "overnight" in sc.builtin_jobs:
        jobs.append(Job("overnight-open", f"overnight window opens ({owner.overnight_start})",
                        _daily(owner.overnight_start, tz), grace_s=3600, target=CALL, kind="overnight-open",
                        source="builtin"))
        jobs.append(Job("overnight-close", f"overnight window closes ({owner.overnight_end})",
                        _daily(owner.overnight_end, tz), grace_s=3600, target=CALL, kind="overnight-close",
                        source="builtin"))
    if "memory-maintenance" in sc.builtin_jobs:
        at = sc.memory_maintenance_at or owner.overnight_start
        jobs.append(Job("memory-maintenance", f"memory maintenance ({at})", _daily(at, tz), grace_s=6 * 3600,
                        target=TASK, kind=sc.memory_maintenance_kind, priority=0, window="overnight",
                        source="builtin"))
    if "backup" in sc.builtin_jobs:  # nightly, inside the overnight window (settings.backup.at overrides)
        at, after = (settings.backup.at, 0) if settings.backup.at else (owner.overnight_start, BACKUP_AFTER_MIN)
        jobs.append(Job("backup", f"nightly backup ({settings.backup.at or f'{owner.overnight_start} + 30 min'})",
                        _daily(at, tz, -after), grace_s=6 * 3600, target=TASK, kind=sc.backup_kind, priority=1,
                        window="overnight", source="builtin"))
    for jd in sc.jobs:
        jobs.append(from_def(jd, tz))
    return jobs


def from_def(jd: JobDef, tz: ZoneInfo, *, source: str = "config", title: str = "",
             created_at: float | None = None) -> Job:
    trig: BaseTrigger
    if jd.cron is not None:
        trig = CronTrigger.from_crontab(jd.cron, timezone=tz)
        what = f"cron '{jd.cron}'"
    else:
        trig = interval(float(jd.every_s or 0), tz)
        what = f"every {jd.every_s:g}s"
    desc = f"{title} ({what})" if title else f"{jd.kind} ({what})"
    return Job(jd.id, desc, trig, jd.misfire_grace_s, TASK, jd.kind, dict(jd.params),
               jd.priority, jd.window, jd.gpu_vram_mb, source, created_at)


def next_fire(jd: JobDef, tz: ZoneInfo, now: datetime | None = None) -> datetime | None:
    """When ``jd`` fires next after ``now`` (what the reply to the owner quotes)."""
    now = now or datetime.now(tz)
    job = from_def(jd, tz)
    return job.trigger.get_next_fire_time(None, now)  # type: ignore[no-any-return]


def slot_of(job: Job, now: datetime) -> datetime | None:
    """The latest scheduled time at or before ``now`` that is within the job's grace, else None."""
    every = job.every_s
    if every is not None:
        n = int((now - ANCHOR).total_seconds() // every)
        slot = ANCHOR + timedelta(seconds=n * every)
        return slot if (now - slot).total_seconds() <= job.grace_s else None
    last = None
    t = job.trigger.get_next_fire_time(None, now - timedelta(seconds=job.grace_s))
    for _ in range(10_000):
        if t is None or t > now:
            break
        last = t
        t = job.trigger.get_next_fire_time(t, t + timedelta(microseconds=1))
    return last


def slot_key(job_id: str, slot: datetime) -> str:
    return f"sched:{job_id}:{slot.astimezone(ZoneInfo('UTC')).strftime('%Y%m%dT%H%M%SZ')}"
