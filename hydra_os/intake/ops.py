"""Operations asked for in words, as policy :class:`~hydra_os.policy.model.Action` s.

Only operations whose executor this node has, with parameters the intake can fill in completely, are
submitted to the gate: restarting a systemd unit (``unit.restart``, run by the healing fixup). For the
others the reply says what the policy would decide and how to do it by hand; nothing is half-done.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from hydra_os.policy.model import Action, BlastRadius

_UNIT = re.compile(r"^[A-Za-z0-9@_.:-]{1,200}$")
_DROP = {"the", "a", "my", "our", "please", "now", "service", "unit", "server", "daemon", "container", "on", "again"}
MANUAL = {
    "nixos.rollback": "hydra nixos rollback",
    "nixos.switch": "hydra nixos switch",
    "node.reboot": "systemctl reboot on the node",
    "model.start": "hydra models start MODEL",
    "model.stop": "hydra models stop MODEL",
    "disk.clean": "hydra heal run (the free-disk fixup empties the configured caches)",
    "data.delete": "delete it by hand",
    "unit.stop": "systemctl stop UNIT",
    "unit.start": "systemctl start UNIT",
}
# the policy kind of each rule kind (for deciding what the policy would say)
POLICY_KIND = {"model.start": "model.load", "model.stop": "model.unload", "disk.clean": "disk.free_cache",
               "unit.stop": "service.stop", "unit.start": "service.start", "node.reboot": "node.reboot"}


@dataclass(frozen=True)
class OpsPlan:
    action: Action
    executable: bool
    manual: str | None = None


def unit_name(subject: str) -> str | None:
    """``restart the ollama service`` -> ``ollama.service``."""
    words = [w for w in re.split(r"\s+", subject.strip().lower()) if w]
    if words and words[0] in ("restart", "stop", "start"):
        words = words[1:]
    if "on" in words:
        words = words[: words.index("on")]
    words = [w.strip(",.!?") for w in words if w.strip(",.!?") not in _DROP]
    if len(words) != 1 or not _UNIT.match(words[0]):
        return None
    name = words[0]
    return name if "." in name else f"{name}.service"


def plan(kind: str, subject: str, node_id: str) -> OpsPlan | None:
    """The action for an ops request, or None when its target cannot be read off the request."""
    if kind == "unit.restart":
        unit = unit_name(subject)
        if unit is None:
            return None
        return OpsPlan(Action(kind="unit.restart", target=f"unit:{unit}", params={"unit": unit, "node": node_id},
                              reversible=True, blast_radius=BlastRadius.SERVICE,
                              summary=f"restart {unit} (asked by the owner)"), executable=True)
    radius = {"node.reboot": BlastRadius.NODE, "nixos.switch": BlastRadius.NODE, "nixos.rollback": BlastRadius.NODE,
              "data.delete": BlastRadius.DATA}.get(kind, BlastRadius.SERVICE)
    action = Action(kind=POLICY_KIND.get(kind, kind), target=f"node:{node_id}", params={"request": subject[:300]},
                    reversible=kind != "data.delete", blast_radius=radius, summary=subject[:300])
    return OpsPlan(action, executable=False, manual=MANUAL.get(kind))
