"""Dependency awareness: one incident for a root cause, not one per dependent.

The healer describes what depends on what (``graph.add("unit:open-webui", "unit:ollama", "bus")``;
every target may also depend on ``implicit`` ones such as the host and the bus). Given the set of
targets failing now, :meth:`DependencyGraph.group` returns one :class:`FailureGroup` per root cause:
a failing target none of whose dependencies (followed through failing targets only) is failing.
A healthy target in between breaks the chain: if A -> B -> C and only A and C fail, B works, so
C's failure does not explain A's and both are roots. Failing cycles are reported as one root (the
smallest name of the cycle). A dependent with two failing roots is listed under both.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class FailureGroup:
    root: str
    dependents: tuple[str, ...] = field(default=())

    @property
    def members(self) -> tuple[str, ...]:
        return (self.root, *self.dependents)


class DependencyGraph:
    def __init__(self, implicit: Iterable[str] = ()) -> None:
        self._deps: dict[str, set[str]] = {}
        self.implicit = tuple(implicit)

    def add(self, target: str, *depends_on: str) -> None:
        self._deps.setdefault(target, set()).update(d for d in depends_on if d != target)

    def depends_on(self, target: str) -> set[str]:
        deps = set(self._deps.get(target, set()))
        if target not in self.implicit:
            deps.update(i for i in self.implicit if i != target)
        return deps

    def _reach(self, start: str, failing: set[str]) -> set[str]:
        """Failing targets reachable from ``start`` through failing dependencies (including start)."""
        seen = {start}
        stack = [start]
        while stack:
            for d in self.depends_on(stack.pop()):
                if d in failing and d not in seen:
                    seen.add(d)
                    stack.append(d)
        return seen

    def group(self, failing: Iterable[str]) -> list[FailureGroup]:
        down = set(failing)
        reach = {t: self._reach(t, down) for t in down}
        roots: set[str] = set()
        for t in down:
            # t is a root when every failing thing it (transitively) depends on depends back on it
            if all(t in reach[d] for d in reach[t]):
                cycle = {d for d in reach[t] if t in reach[d]}
                roots.add(min(cycle))
        groups = []
        for r in sorted(roots):
            cycle = {d for d in reach[r] if r in reach[d]}
            deps = sorted(t for t in down if r in reach[t] and t not in cycle)
            groups.append(FailureGroup(root=r, dependents=tuple(sorted(cycle - {r})) + tuple(deps)))
        return groups

    def root_of(self, target: str, failing: Iterable[str]) -> list[str]:
        """The root cause(s) ``target`` belongs to, given what is failing now."""
        return [g.root for g in self.group(failing) if target in g.members]
