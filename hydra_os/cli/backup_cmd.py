"""``hydra backup now|list|verify|restore``.

``now`` asks the local daemon (``POST /v1/backups``: through its policy gate); ``list``, ``verify``
and ``restore`` work on the destination directory without a daemon (a restore needs the target's
daemon stopped: it takes the state-dir lock).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.table import Table

from hydra_os.backup.catalog import describe, find, list_backups
from hydra_os.backup.errors import BackupInvalidError
from hydra_os.backup.restic import ResticRepo
from hydra_os.backup.restore import restore_backup
from hydra_os.backup.status import read_status
from hydra_os.backup.verify import verify_backup
from hydra_os.cli.common import console, fail, state
from hydra_os.config import Settings
from hydra_os.daemon import read_runtime
from hydra_os.errors import HydraError
from hydra_os.secrets import read_secret_file
from memory.backup import describe_counts

app = typer.Typer(help="Backups of this node and the cluster state, and restoring one.", no_args_is_help=True)
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON.")]
Name = Annotated[str, typer.Argument(help="A backup file name in the destination, a path, or 'latest'.")]


def _print_json(data: Any) -> None:
    console.print_json(json.dumps(data, default=str))


def _run(coro: Any) -> Any:
    try:
        return asyncio.run(coro)
    except HydraError as e:
        fail(e)


def _repo(s: Settings) -> ResticRepo:
    cfg = s.backup
    if not cfg.restic_repository or not cfg.restic_password_file:
        fail("backup.restic_repository and backup.restic_password_file are not set")
    return ResticRepo(cfg.restic_repository, cfg.restic_password_file, cfg.timeout)


@app.command("now")
def now(ctx: typer.Context, as_json: AsJson = False) -> None:
    """Take a backup now, through the local daemon's policy gate (backup.run)."""
    s = state(ctx).settings()
    rt = read_runtime(s.node.state_dir)
    if not rt or not rt.get("api_url"):
        fail(f"no hydra daemon is running on state dir {s.node.state_dir}; start it with 'hydra run'")
    try:
        token = read_secret_file(s.api_token_path, "API token")
        r = httpx.post(f"{rt['api_url']}/v1/backups", json={}, timeout=s.backup.timeout + 30,
                       headers={"Authorization": f"Bearer {token}"})
    except HydraError as e:
        fail(e)
    except httpx.HTTPError as e:
        fail(f"the daemon at {rt['api_url']} did not answer: {type(e).__name__}")
    body: dict[str, Any] = (r.json() if r.headers.get("content-type", "").startswith("application/json")
                            else {"error": r.text})
    if r.status_code != 200:
        err = body.get("error", body)
        fail(f"backup failed ({r.status_code}): {err.get('message', err) if isinstance(err, dict) else err}")
    if as_json:
        _print_json(body)
        return
    b = body.get("backup")
    if body["status"] != "succeeded" or not b:
        console.print(f"backup {body['status']}: {body['decision']['reason']}", highlight=False)
        if body.get("approval_id"):
            console.print(f"approve with 'hydra approve {body['approval_id']}'", highlight=False)
        raise typer.Exit(1)
    console.print(f"backup {b['name']}: {b['size'] / 1e6:.1f} MB, {b['parts']} parts, {b['seconds']:.1f}s"
                  + (f"; restic snapshot {b['restic_snapshot']}" if b.get("restic_snapshot") else "")
                  + (f"; pruned {len(b['pruned'])} old" if b.get("pruned") else ""), highlight=False)


@app.command("list")
def list_(ctx: typer.Context, as_json: AsJson = False,
          restic: Annotated[bool, typer.Option("--restic", help="Also list the restic repository's snapshots.")] = False
          ) -> None:
    """The backups in the destination directory (and the last attempt's result)."""
    s = state(ctx).settings()
    dest = s.backup.destination_for(s.node.state_dir)
    entries = list_backups(dest)
    last = read_status(s.node.state_dir)
    snaps = _run(_repo(s).snapshots()) if restic else []
    if as_json:
        _print_json({"destination": str(dest), "backups": [e.as_dict() | describe(e.path) for e in entries],
                     "last": last.model_dump() if last else None, "restic": snaps})
        return
    t = Table("backup", "node", "created (UTC)", "size")
    for e in entries:
        t.add_row(e.path.name, e.node, e.created.strftime("%Y-%m-%d %H:%M:%S"), f"{e.size / 1e6:.1f} MB")
    console.print(t)
    console.print(f"destination: {dest}", highlight=False)
    if last is not None:
        console.print(last.line(), highlight=False)
    for sn in snaps:
        console.print(f"restic {sn.get('short_id')} {sn.get('time')} {', '.join(sn.get('paths', []))}", highlight=False)


@app.command("verify")
def verify(ctx: typer.Context, name: Name = "latest", as_json: AsJson = False) -> None:
    """Recompute every checksum and the audit hash chain (streams restored into a scratch nats-server)."""
    s = state(ctx).settings()
    path = _run(_find(s, name))
    scratch = Path(tempfile.mkdtemp(prefix="hydra-verify-"))
    try:
        checked = _run(verify_backup(path, scratch, binary=s.bus.server_binary, timeout=s.backup.timeout))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if as_json:
        _print_json({"backup": path.name, **checked.as_dict()})
    else:
        m = checked.manifest
        chains = ", ".join(f"{n}: {r.events} events" for n, r in checked.chains.items()) or "no events"
        console.print(f"{path.name}: {len(m.parts)} parts checksummed; audit chains {chains}; memory "
                      + (describe_counts(checked.memory_counts) or "not included"),
                      highlight=False)
        for p in checked.problems:
            console.print(f"[red]problem:[/] {p}", highlight=False)
    if not checked.ok:
        raise typer.Exit(BackupInvalidError.exit_code)


async def _find(s: Settings, name: str) -> Path:
    return await asyncio.to_thread(find, s.backup.destination_for(s.node.state_dir), name)


@app.command("restore")
def restore(
    ctx: typer.Context,
    name: Name = "latest",
    target: Annotated[Path | None, typer.Option("--target", help="State dir to restore into "
                                                "(default: node.state_dir).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Restore into a non-empty target (its contents are moved "
                                        "aside to <target>.replaced-<time>, not deleted).")] = False,
    from_restic: Annotated[str | None, typer.Option("--from-restic", help="Fetch this restic snapshot id "
                                                    "(or 'latest') first.")] = None,
    as_json: AsJson = False,
) -> None:
    """Restore a backup into a fresh state dir; everything is verified before the target is written."""
    s = state(ctx).settings()
    if target is not None:
        s = s.model_copy(update={"node": s.node.model_copy(update={"state_dir": target.resolve()})})
    fetched: Path | None = None
    try:
        if from_restic is not None:
            fetched = Path(tempfile.mkdtemp(prefix="hydra-restic-"))
            path = _run(_repo(s).fetch(from_restic, fetched))
        else:
            path = _run(_find(s, name))
        t0 = time.monotonic()
        done = _run(restore_backup(path, s, force=force))
    finally:
        if fetched is not None:
            shutil.rmtree(fetched, ignore_errors=True)
    if as_json:
        _print_json({"backup": path.name, "target": str(s.node.state_dir), "memory": done.memory,
                     "streams": done.streams, "files": done.files, "seconds": round(time.monotonic() - t0, 3),
                     "moved_aside": str(done.moved_aside) if done.moved_aside else None})
        return
    console.print(f"restored {path.name} into {s.node.state_dir} in {done.seconds:.1f}s: streams "
                  f"{', '.join(done.streams) or '-'}; memory "
                  + (describe_counts(done.memory) or "-")
                  + f"; files {', '.join(done.files) or '-'}", highlight=False)
    if done.moved_aside:
        console.print(f"the target's previous contents are in {done.moved_aside}", highlight=False)
    console.print("start the node ('hydra run' or systemctl start hydra-os), then run 'hydra audit verify'",
                  highlight=False)



