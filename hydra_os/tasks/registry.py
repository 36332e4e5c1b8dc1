"""Task kinds: kind -> handler. Handlers get a :class:`TaskContext` and return a JSON-able result.

Other parts of Hydra register kinds in :mod:`hydra_os.wiring` (or through ``tasks.kind_modules``:
modules with a ``register(registry)`` function). A handler made of named, checkpointed steps is a
:class:`hydra_os.tasks.steps.Pipeline`.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from hydra_os.errors import ConfigError
from hydra_os.lifecycle import TaskKind
from hydra_os.tasks.checkpoints import CheckpointStore
from hydra_os.tasks.errors import UnknownKindError
from hydra_os.tasks.model import Task, check_kind


@dataclass
class TaskContext:
    """What a running handler may use."""

    task: Task
    node_id: str
    checkpoints: CheckpointStore
    delivery: int
    """1 for the first delivery of this release; more after a crash or a retry."""
    heartbeat: Callable[[], Awaitable[None]]
    """Send an in-progress ack now (heartbeats also run on their own every ack_wait/3)."""
    note: Callable[[str], Awaitable[None]]
    """Append a line to the task's history (progress the owner can see in ``hydra tasks show``)."""
    services: dict[str, Any] = field(default_factory=dict)
    """Whatever the wiring hands to handlers (router, memory client...), by name."""

    @property
    def params(self) -> dict[str, Any]:
        return self.task.params


Handler = Callable[[TaskContext], Awaitable[Any]]


@dataclass(frozen=True)
class KindSpec:
    kind: str
    handler: Handler
    description: str = ""
    steps: tuple[str, ...] = ()


class TaskRegistry:
    def __init__(self) -> None:
        self._kinds: dict[str, KindSpec] = {}

    def register(self, kind: str, handler: Handler, description: str = "", steps: tuple[str, ...] = ()) -> None:
        check_kind(kind)
        if kind in self._kinds:
            raise ValueError(f"task kind {kind!r} is registered twice")
        if not steps:
            steps = tuple(getattr(handler, "step_names", ()) or ())
        self._kinds[kind] = KindSpec(kind, handler, description, steps)

    def add(self, spec: TaskKind) -> None:
        """Register a spec a component offers (:meth:`hydra_os.lifecycle.Lifecycle.task_kinds`)."""
        self.register(spec.kind, spec.handler, spec.description, spec.steps)

    def specs(self) -> list[KindSpec]:
        return [self._kinds[k] for k in sorted(self._kinds)]

    def get(self, kind: str) -> KindSpec:
        try:
            return self._kinds[kind]
        except KeyError:
            raise UnknownKindError(f"no handler for task kind {kind!r} on this node") from None

    def __contains__(self, kind: str) -> bool:
        return kind in self._kinds

    def kinds(self) -> list[str]:
        return sorted(self._kinds)

    def describe(self) -> list[dict[str, Any]]:
        return [{"kind": k.kind, "description": k.description, "steps": list(k.steps)}
                for k in sorted(self._kinds.values(), key=lambda k: k.kind)]

    def load_modules(self, modules: list[str]) -> None:
        """Import each ``tasks.kind_modules`` entry and call its ``register(registry)``."""
        for name in modules:
            try:
                mod = importlib.import_module(name)
            except ImportError as e:
                raise ConfigError(f"tasks.kind_modules: cannot import {name!r} ({e})") from None
            reg = getattr(mod, "register", None)
            if not callable(reg):
                raise ConfigError(f"tasks.kind_modules: module {name!r} has no register(registry) function")
            reg(self)


def specs_of(*registers: Callable[[TaskRegistry], None]) -> list[KindSpec]:
    """The kinds that ``register(registry)`` functions declare, without registering them anywhere: what a
    component's ``task_kinds()`` returns, for the wiring to register on the node's registry."""
    scratch = TaskRegistry()
    for register in registers:
        register(scratch)
    return scratch.specs()
