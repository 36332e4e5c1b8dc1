"""What intake queues for a creative request: which kind, for which project and scene, said in words.

The creative pipeline (``pipelines/creative``) imports its kind and verb names from here, so intake
needs nothing from that package (an import of it here would tie ``hydra_os.intake`` and
``pipelines.creative`` into a cycle: the pipeline uses intake's chat client).

"continue the visual novel" -> ``creative.scene`` for the project's next unfinished scene (asked of this
node's ``creative`` verb, so the reply names it); "generate the next batch of character assets" ->
``creative.assets`` in the overnight window, when the GPUs are free.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from hydra_os.bus.client import Bus
from hydra_os.errors import HydraError
from hydra_os.node import rpc
from pipelines.creative_kinds import ASSETS_KIND, SCENE_KIND, VERB

BATCH_WORDS = re.compile(r"\b(assets?|batch(es)?|sprites?|portraits?|images?|pictures?)\b", re.I)


@dataclass(frozen=True)
class CreativePlan:
    kind: str
    params: dict[str, Any]
    window: str | None
    what: str


async def plan_request(bus: Bus, node_id: str, text: str, served: set[str], *, overnight: bool = True,
                       timeout: float = 10.0) -> CreativePlan | None:
    """None when no live worker serves the kind this request needs. ``overnight``: asset batches wait
    for the overnight window (``[creative] overnight``)."""
    batch = bool(BATCH_WORDS.search(text))
    kind = ASSETS_KIND if batch else SCENE_KIND
    if kind not in served:
        return None
    params: dict[str, Any] = {"request": text}
    try:
        nxt = await rpc.call(bus, node_id, VERB, {"op": "project.next", "text": text}, timeout=timeout)
    except HydraError:
        nxt = {}
    if nxt.get("project"):
        params["project"] = nxt["project"]
    if batch:
        where = f" of '{nxt['project_title']}'" if nxt.get("project_title") else ""
        return CreativePlan(kind, params, "overnight" if overnight else None,
                            f"the next batch of character assets{where}")
    if nxt.get("scene"):
        params["scene"] = nxt["scene"]
        return CreativePlan(kind, params, None, f"scene '{nxt['title']}' of '{nxt['project_title']}' "
                                                "(dialogue, images, voices, Ren'Py export)")
    return CreativePlan(kind, params, None, "the next unfinished scene (dialogue, images, voices, Ren'Py export)")
