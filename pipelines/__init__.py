"""Multi-step jobs (research, creative, briefing) built on :mod:`hydra_os.tasks.steps`."""
