"""The schema of each configuration section (``[healing]``, ``[tasks]``, ``[inference]``...).

A leaf package: it imports only pydantic and :mod:`hydra_os.durations`/:mod:`hydra_os.errors`. Every
subsystem imports its own section from here, and :mod:`hydra_os.config` aggregates them into
``Settings``. When each section lived in its subsystem's package, ``hydra_os.config`` imported every
subsystem while the subsystems imported ``hydra_os.config`` (through ``NodeContext``) back: one import
cycle through eleven packages.
"""
