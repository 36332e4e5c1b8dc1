"""Multi-step jobs (research, creative, briefing) built on :mod:`pipelines.runner`."""
