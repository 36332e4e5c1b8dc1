"""Research sources, one file each, behind :class:`~pipelines.research.sources.base.Source`."""
