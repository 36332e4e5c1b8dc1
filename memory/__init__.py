"""Hydra's memory layer: core blocks, archival passages, a temporal knowledge graph, learnings,
and the context assembled from them for a prompt. The seams are in :mod:`memory.protocols`."""
