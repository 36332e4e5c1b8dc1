"""Keep the knowledge graph and the ``projects`` core block in step with a creative project.

Graph: the project, every character and place as entities (type ``creative_project``, ``character``,
``place``); each character and place also has a stable identity entity ``creative:<project>:<id>``
whose single-valued ``has_name`` fact points at its current name, so a rename closes the old name's
fact (its ``valid_to`` is set) and history stays queryable; the identity carries the aliases.
Everything is an upsert: syncing the same project twice changes nothing.

Core block ``projects``: one line per creative project, marked ``[creative:<id>]``, replaced in place,
so chat knows where the visual novel stands (scenes done, the next one).
"""

from __future__ import annotations

from memory.protocols import CoreMemory, Entity, GraphStore, RelationIn
from pipelines.creative.model import Project, Stage

BLOCK = "projects"


def identity(project: Project, item_id: str) -> str:
    return f"creative:{project.id}:{item_id}"


async def sync_graph(graph: GraphStore, project: Project) -> int:
    """Upsert the project's entities and facts; returns how many facts were asserted."""
    src = f"creative:{project.id}@{project.revision}"
    await graph.upsert_entity(Entity(name=project.title, type="creative_project",
                                     properties={"creative_id": project.id, "description": project.description}))
    facts = 0
    named = [(c.id, c.name, "character", c.aliases, c.description) for c in project.characters.values()]
    named += [(p.id, p.name, "place", [], p.description) for p in project.places.values()]
    for item_id, name, kind, aliases, description in named:
        key = identity(project, item_id)
        await graph.upsert_entity(Entity(name=name, type=kind,
                                         properties={"creative_project": project.id, "creative_id": item_id,
                                                     "description": description}))
        # aliases live on the stable identity: on the name entity they would merge a renamed
        # character's new name into its old one (an upsert merges into whatever an alias resolves to)
        await graph.upsert_entity(Entity(name=key, type=f"creative_{kind}", aliases=list(aliases)))
        await graph.upsert_relation(RelationIn(subject=key, type="has_name", object=name, single_valued=True,
                                               source=src))
        await graph.upsert_relation(RelationIn(subject=name, type=f"{kind}_in", object=project.title,
                                               source=src))
        facts += 2
    for scene in project.scenes.values():
        if scene.place is None:
            continue
        place = project.places[scene.place].name
        for cid in scene.characters:
            await graph.upsert_relation(RelationIn(subject=project.characters[cid].name, type="appears_at",
                                                   object=place, source=src))
            facts += 1
    return facts


def status_line(project: Project) -> str:
    scenes = project.ordered_scenes()
    done = sum(1 for s in scenes if Stage.EXPORT in s.done)
    nxt = project.next_unfinished()
    where = f"next: scene '{nxt.title}' ({nxt.id})" if nxt else "every scene is done"
    return (f"[creative:{project.id}] Visual novel '{project.title}': {len(project.characters)} characters, "
            f"{done}/{len(scenes)} scenes done; {where}.")


async def sync_core(core: CoreMemory, project: Project) -> None:
    """Replace this project's line in the ``projects`` block (append it when new)."""
    line = status_line(project)
    block = await core.get_block(BLOCK)
    marker = f"[creative:{project.id}]"
    old = next((ln for ln in block.value.splitlines() if ln.startswith(marker)), None)
    if old == line:
        return
    if old is not None:
        await core.replace(BLOCK, old, line)
        return
    await core.append(BLOCK, line)  # BlockLimitError when the block is full: the caller reports it
