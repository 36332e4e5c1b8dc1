"""What is unhealthy, as a value: a :class:`TargetKind` and a name.

Inside healing a target is a :class:`Target`; its string form (``unit:ollama.service``, ``bus``) is
what the policy gate, the dependency graph, the availability record and the persisted incidents
see, so :meth:`Target.parse` and ``str()`` are used only at those edges.
"""

from __future__ import annotations

from dataclasses import dataclass

from hydra_os.healing.const import TargetKind
from hydra_os.healing.errors import HealingError


@dataclass(frozen=True, order=True)
class Target:
    kind: TargetKind
    name: str = ""

    def __post_init__(self) -> None:
        if (self.kind is TargetKind.BUS) != (not self.name):
            raise HealingError(f"target {self.kind}: " + ("takes no name" if self.name else "needs a name"))

    def __str__(self) -> str:
        return f"{self.kind}:{self.name}" if self.name else str(self.kind)

    @classmethod
    def parse(cls, text: str) -> Target:
        """``unit:ollama.service`` -> Target(UNIT, "ollama.service"); raises HealingError naming what was expected."""
        kind, _, name = text.partition(":")
        try:
            return cls(TargetKind(kind), name)
        except ValueError:
            kinds = ", ".join(k.value for k in TargetKind)
            raise HealingError(f"target {text!r}: expected KIND:NAME with KIND one of {kinds}") from None
