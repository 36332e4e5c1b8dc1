"""The briefing as Markdown (ntfy, email text part, archival memory) and as one self-contained HTML page
(inline CSS, no scripts, no external assets, readable on a phone: one column, large type, dark mode)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from html import escape
from zoneinfo import ZoneInfo

from pipelines.briefing.model import Briefing, MemoryGrowth
from pipelines.creative_digest import CreativeDigest, Thumbnail

CSS = """
:root{color-scheme:light dark;--fg:#1d232a;--muted:#5c6670;--bg:#fbfbfa;--card:#fff;--line:#e3e6e8;
--ok:#1f7a4d;--warn:#a65e00;--bad:#b3261e;--accent:#2f5fb3}
@media (prefers-color-scheme:dark){:root{--fg:#e8eaed;--muted:#a0a7ae;--bg:#111417;--card:#1a1e22;
--line:#2c3238;--ok:#5cc98d;--warn:#f0b35a;--bad:#ff8a80;--accent:#8ab4f8}}
*{box-sizing:border-box}body{margin:0;background:var(--bg);color:var(--fg);
font:17px/1.5 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,Helvetica,Arial,sans-serif}
main{max-width:44rem;margin:0 auto;padding:1rem}h1{font-size:1.5rem;margin:.5rem 0 .25rem}
.sub{color:var(--muted);margin:0 0 1rem}.opening{font-size:1.05rem}
section{background:var(--card);border:1px solid var(--line);border-radius:12px;padding:.75rem 1rem;margin:.75rem 0}
h2{font-size:1.1rem;margin:.25rem 0 .5rem}ul{margin:0;padding-left:1.1rem}li{margin:.35rem 0;overflow-wrap:anywhere}
.muted{color:var(--muted)}.ok{color:var(--ok)}.warn{color:var(--warn)}.bad{color:var(--bad)}
a{color:var(--accent)}code{font-size:.9em;overflow-wrap:anywhere}
.pill{display:inline-block;border-radius:999px;padding:0 .5rem;font-size:.85rem;border:1px solid var(--line)}
.thumbs{display:flex;flex-wrap:wrap;gap:.5rem;margin-top:.5rem}.thumb{margin:0;width:10rem;font-size:.8rem}
.thumb img{max-width:100%;border-radius:6px;display:block}.thumb.bad img{outline:3px solid var(--bad)}
"""


def _t(ts: float, tz: ZoneInfo, fmt: str = "%a %H:%M") -> str:
    return datetime.fromtimestamp(ts, tz).strftime(fmt)


def title(b: Briefing) -> str:
    tz = ZoneInfo(b.timezone)
    return f"Briefing for {_t(b.until, tz, '%A %d %B')}"


def _n(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def headline(b: Briefing) -> str:
    parts = [f"{_n(len(b.tasks), 'task')} done"]
    if b.failed:
        parts.append(f"{len(b.failed)} failed")
    parts.append(_n(len(b.incidents), "incident"))
    parts.append(f"{_n(len(b.approvals), 'approval')} waiting")
    parts.append(f"{len(b.tonight)} queued for tonight")
    return ", ".join(parts)


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{100 * v:.2f}%"


def uptime_lines(b: Briefing) -> list[str]:
    """One line per watched service; the ones that are down or were down lately first."""
    items = sorted(b.uptime, key=lambda u: (u.up, u.availability_30d if u.availability_30d is not None else 1.0,
                                            u.node, u.target))
    return [f"{u.node} {u.target}: {'up' if u.up else 'DOWN'}, {_pct(u.availability_24h)} / "
            f"{_pct(u.availability_30d)}" + (f", {_n(u.outages_30d, 'outage')} in 30 days" if u.outages_30d else "")
            for u in items]


def _memory_line(m: MemoryGrowth) -> str:
    def d(k: str) -> str:
        return f" ({m.delta[k]:+d})" if k in m.delta else ""

    return (f"{m.passages} passages{d('passages')}, {m.entities} entities{d('entities')}, "
            f"{m.relations} facts{d('relations')}; {m.learnings_new} new learnings.")


def _md_tasks(b: Briefing, tz: ZoneInfo) -> list[str]:
    out = ["## Tasks finished"]
    if not b.tasks and not b.failed:
        out.append("Nothing finished.")
    for t in b.tasks:
        link = f" ([full result]({t.link}))" if t.link else ""
        out.append(f"- **{t.title}** — done {_t(t.finished_at, tz)}{link}. {t.summary}".rstrip())
    for t in b.failed:
        out.append(f"- **{t.title}** — FAILED {_t(t.finished_at, tz)}: {t.error or 'no error kept'}. "
                   f"Retry with `hydra tasks retry {t.id}`.")
    if b.routine:
        out.append("- Routine: " + ", ".join(f"{k} x{n}" for k, n in sorted(b.routine.items())) + ".")
    return out


def _md_incidents(b: Briefing, tz: ZoneInfo) -> list[str]:
    out = ["## Incidents and what was done"]
    if not b.incidents and not b.actions:
        out.append("None.")
    for i in b.incidents:
        done = "; ".join(i.actions) if i.actions else "no action recorded"
        out.append(f"- **{i.summary or i.id}** ({i.status}, {_t(i.at, tz)}): {done}.")
    return out + [f"- Action: {line}" for line in b.actions]


def creative_lines(d: CreativeDigest) -> list[str]:
    """The creative studio's period in plain lines (shared by the Markdown and the HTML)."""
    out = [f"{_n(d.made, 'image')} made: {d.unscored} unscored, {_n(d.outliers, 'outlier')}"
           f"{' (shown first)' if d.outliers else ''}."]
    if d.failed_images or d.failed_tasks:
        out.append(f"Failed: {_n(d.failed_images, 'image')}, {_n(d.failed_tasks, 'creative task')}.")
    if d.review_images or d.review_lines:
        out.append(f"Waiting for your review: {_n(d.review_images, 'image')}, {_n(d.review_lines, 'line')} "
                   "('hydra creative review').")
    return out + [f"Could not read {p}." for p in d.problems]


def _md_creative(b: Briefing, tz: ZoneInfo) -> list[str]:
    if b.creative is None:
        return []
    return ["## Creative studio", *[f"- {line}" for line in creative_lines(b.creative)]]


def _md_approvals(b: Briefing, tz: ZoneInfo) -> list[str]:
    out = ["## Waiting for your approval", *(["Nothing waits."] if not b.approvals else [])]
    for a in b.approvals:
        out.append(f"- **{a.summary}** — {a.reason}. `hydra approve {a.id}` or `hydra deny {a.id}` "
                   f"(expires {_t(a.expires_at, tz)}).")
        if a.approve_url and a.deny_url:
            out.append(f"  [Approve]({a.approve_url}) · [Deny]({a.deny_url})")
    return out


def _md_nodes(b: Briefing, tz: ZoneInfo) -> list[str]:
    out = ["## Nodes and GPUs"]
    if not b.nodes:
        out.append("No node reported in.")
    for n in b.nodes:
        state = "OK" if n.healthy else "attention: " + "; ".join(n.warnings)
        out.append(f"- **{n.id}** ({', '.join(n.roles)}): {state}; CPU {n.cpu_pct:.0f}%, "
                   f"memory {n.mem_free_pct:.0f}% free.")
        out += [f"  - {g}" for g in n.gpus]
    return out


def _md_uptime(b: Briefing, tz: ZoneInfo) -> list[str]:
    return ["## Availability (24 h / 30 days)",
            *([f"- {line}" for line in uptime_lines(b)] or ["Nothing watched reported in."])]


def _md_nixos(b: Briefing, tz: ZoneInfo) -> list[str]:
    return ["## NixOS: failed revisions and rollbacks", *[f"- {line}" for line in b.nixos]] if b.nixos else []


def _md_backup(b: Briefing, tz: ZoneInfo) -> list[str]:
    return ["## Backups", f"- {b.backup}"] if b.backup else []


def _md_memory(b: Briefing, tz: ZoneInfo) -> list[str]:
    m = b.memory
    return ["## Memory", f"Not readable: {m.error}." if m.error else f"- {_memory_line(m)}"]


def _md_tonight(b: Briefing, tz: ZoneInfo) -> list[str]:
    out = [f"## Queued for tonight ({b.tonight_window})"]
    if not b.tonight:
        out.append("Nothing queued.")
    return out + [f"- {t.title} (`{t.kind}`, task {t.id})" for t in b.tonight]


def _md_problems(b: Briefing, tz: ZoneInfo) -> list[str]:
    return ["## Could not read", *[f"- {p}" for p in b.problems]] if b.problems else []


# The Markdown sections in order; an empty one (no NixOS events, no problems) is left out.
_MD_SECTIONS: tuple[Callable[[Briefing, ZoneInfo], list[str]], ...] = (
    _md_tasks, _md_creative, _md_incidents, _md_approvals, _md_nodes, _md_uptime, _md_nixos, _md_backup, _md_memory,
    _md_tonight, _md_problems,
)


def markdown(b: Briefing) -> str:
    tz = ZoneInfo(b.timezone)
    out = [f"# {title(b)}", "", f"_Since {_t(b.since, tz, '%a %d %b %H:%M')} ({tz.key}): {headline(b)}._", ""]
    if b.opening:
        out += [b.opening, ""]
    sections = [lines for section in _MD_SECTIONS if (lines := section(b, tz))]
    for n, lines in enumerate(sections):
        out += lines if n == 0 else ["", *lines]
    return "\n".join(out) + "\n"


def _li(items: list[str], empty: str) -> str:
    if not items:
        return f'<p class="muted">{escape(empty)}</p>'
    return "<ul>" + "".join(f"<li>{i}</li>" for i in items) + "</ul>"


def _html_tasks(b: Briefing, tz: ZoneInfo) -> list[str]:
    e = escape
    tasks = []
    for t in b.tasks:
        link = f' <a href="{e(t.link)}">full result</a>' if t.link else ""
        tasks.append(f'<b>{e(t.title)}</b> <span class="ok">done {e(_t(t.finished_at, tz))}</span>{link}'
                     f'<br><span>{e(t.summary)}</span>')
    for t in b.failed:
        tasks.append(f'<b>{e(t.title)}</b> <span class="bad">failed {e(_t(t.finished_at, tz))}</span><br>'
                     f'<span>{e(t.error or "")}</span><br><code>hydra tasks retry {e(t.id)}</code>')
    if b.routine:
        tasks.append('<span class="muted">Routine: ' + e(", ".join(f"{k} x{n}" for k, n in sorted(b.routine.items())))
                     + "</span>")
    return tasks


def _html_incidents(b: Briefing, tz: ZoneInfo) -> list[str]:
    e = escape
    return [f'<b>{e(i.summary or i.id)}</b> <span class="pill">{e(i.status)}</span> '
            f'<span class="muted">{e(_t(i.at, tz))}</span><br>{e("; ".join(i.actions) or "no action recorded")}'
            for i in b.incidents] + [f"Action: {e(a)}" for a in b.actions]


def _html_approvals(b: Briefing, tz: ZoneInfo) -> list[str]:
    e = escape
    return [f'<b>{e(a.summary)}</b><br>{e(a.reason)}<br><code>hydra approve {e(a.id)}</code> '
            f'<span class="muted">expires {e(_t(a.expires_at, tz))}</span>'
            + (f'<br><a href="{e(a.approve_url)}">Approve</a> · <a href="{e(a.deny_url)}">Deny</a>'
               if a.approve_url and a.deny_url else "") for a in b.approvals]


def _html_nodes(b: Briefing) -> list[str]:
    e = escape
    nodes = []
    for n in b.nodes:
        state = '<span class="ok">OK</span>' if n.healthy else f'<span class="warn">{e("; ".join(n.warnings))}</span>'
        gpus = "".join(f"<br><span class='muted'>{e(g)}</span>" for g in n.gpus)
        nodes.append(f"<b>{e(n.id)}</b> {state} <span class='muted'>CPU {n.cpu_pct:.0f}%, memory "
                     f"{n.mem_free_pct:.0f}% free</span>{gpus}")
    return nodes


def _thumb_caption(t: Thumbnail) -> str:
    score = "unscored" if t.score is None else f"{t.score:.2f}"
    return f"{t.project}/{t.scene} {t.key}: {score}{', OUTLIER' if t.outlier else ''}, {t.review}"


def _html_creative(d: CreativeDigest | None) -> str:
    """The creative section: counts, then the thumbnails inline (data: URIs; the page stays self-contained)."""
    if d is None:
        return ""
    e = escape
    figs = "".join(f'<figure class="thumb{" bad" if t.outlier else ""}"><img src="{e(t.data_uri)}" alt="{e(t.key)}">'
                   f"<figcaption>{e(_thumb_caption(t))}</figcaption></figure>" for t in d.thumbnails)
    more = f'<p class="muted">{d.not_shown} more not shown.</p>' if d.not_shown else ""
    return (f"<section><h2>Creative studio</h2>{_li([e(x) for x in creative_lines(d)], '')}"
            f'<div class="thumbs">{figs}</div>{more}</section>\n')


def _html_memory(m: MemoryGrowth) -> str:
    return f'<p class="warn">Not readable: {escape(m.error)}</p>' if m.error else f"<p>{_memory_line(m)}</p>"


def html(b: Briefing) -> str:
    tz = ZoneInfo(b.timezone)
    e = escape
    tasks, incidents, approvals = _html_tasks(b, tz), _html_incidents(b, tz), _html_approvals(b, tz)
    nodes, mem = _html_nodes(b), _html_memory(b.memory)
    tonight = [f"{e(t.title)} <span class='muted'>{e(t.kind)}</span>" for t in b.tonight]
    problems = (f"<section><h2>Could not read</h2>{_li([e(p) for p in b.problems], '')}</section>"
                if b.problems else "")
    opening = f'<p class="opening">{e(b.opening)}</p>' if b.opening else ""
    nixos = (f"<section><h2>NixOS: failed revisions and rollbacks</h2>{_li([e(x) for x in b.nixos], '')}"
             "</section>\n" if b.nixos else "")
    backup = f"<section><h2>Backups</h2><p>{e(b.backup)}</p></section>\n" if b.backup else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title(b))}</title><style>{CSS}</style></head>
<body><main>
<h1>{e(title(b))}</h1>
<p class="sub">Since {e(_t(b.since, tz, '%a %d %b %H:%M'))} ({e(tz.key)}): {e(headline(b))}.</p>
{opening}
<section><h2>Tasks finished</h2>{_li(tasks, "Nothing finished.")}</section>
{_html_creative(b.creative)}<section><h2>Incidents and what was done</h2>{_li(incidents, "None.")}</section>
<section><h2>Waiting for your approval</h2>{_li(approvals, "Nothing waits.")}</section>
<section><h2>Nodes and GPUs</h2>{_li(nodes, "No node reported in.")}</section>
<section><h2>Availability <span class="muted">(24 h / 30 days)</span></h2>
{_li([e(x) for x in uptime_lines(b)], "Nothing watched reported in.")}</section>
{nixos}{backup}<section><h2>Memory</h2>{mem}</section>
<section><h2>Queued for tonight <span class="muted">({e(b.tonight_window)})</span></h2>
{_li(tonight, "Nothing queued.")}</section>
{problems}
</main></body></html>
"""
