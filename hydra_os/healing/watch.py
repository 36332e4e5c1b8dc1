"""What a node watches without configuration: seams to the components that know (models, membership).

The healer is built before the model manager and knows nothing of inference; the wiring hands it
these narrow views instead (:meth:`hydra_os.healing.component.HealingService.watch_models`), so
healing does not import the components it watches.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

from hydra_os.sections.healing import DiskTarget, HealingConfig


class RunView(Protocol):
    """A model the manager runs (:class:`hydra_os.inference.engines.supervisor.ModelRun`)."""

    @property
    def spec_id(self) -> str: ...

    @property
    def state(self) -> str: ...

    @property
    def error(self) -> str | None: ...


class ModelsView(Protocol):
    """The model manager's runs (:class:`hydra_os.inference.manager.ModelManager`)."""

    @property
    def runs(self) -> Mapping[str, RunView]: ...

    failure_listeners: list[Callable[[str], None]]
    """Called with the model id the moment the manager sees its engine fail."""


class PeersView(Protocol):
    """Live members (:class:`hydra_os.node.membership.Membership`): node id -> peer."""

    @property
    def node_id(self) -> str: ...

    @property
    def peers(self) -> Mapping[str, object]: ...


def default_disks(cfg: HealingConfig, state_dir: Path, extra: list[Path]) -> list[DiskTarget]:
    """``healing.disks`` when set; else the state dir and every other existing path (model dirs), one
    per filesystem, with the ``default_disk_*`` floors."""
    if cfg.disks:
        return list(cfg.disks)
    out: list[DiskTarget] = []
    seen: set[int] = set()
    for p in [state_dir, *extra]:
        while not p.exists() and p.parent != p:  # not created yet: the filesystem it will be on
            p = p.parent
        try:
            dev = p.stat().st_dev
        except OSError:
            continue
        if dev in seen:
            continue
        seen.add(dev)
        out.append(DiskTarget(path=p, min_free_pct=cfg.default_disk_min_free_pct,
                              min_free_gb=cfg.default_disk_min_free_gb))
    return out
