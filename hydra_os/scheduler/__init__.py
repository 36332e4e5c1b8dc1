"""Recurring jobs: one scheduler leader in the cluster (:mod:`.leader`) runs APScheduler (:mod:`.service`)."""
