"""The creative studio's names on the bus and in the task queue: a leaf, so the intake (which queues
creative work) and the briefing (which asks the studio for its digest) share them without importing
each other or the studio."""

from __future__ import annotations

SCENE_KIND = "creative.scene"
"""One scene: dialogue -> images -> voices -> export, each step checkpointed."""
ASSETS_KIND = "creative.assets"
"""The overnight batch: images for every unfinished scene."""
VERB = "creative"
"""The node RPC verb the studio serves (projects, characters, scenes, reviews, the briefing digest)."""
