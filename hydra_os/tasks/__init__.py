"""Durable task queue: tasks on the ``HYDRA_TASKS`` work queue, state and step checkpoints in ``hydra_tasks``.

Modules: :mod:`.model` (Task, TaskSpec), :mod:`.queue` (enqueue/cancel/retry/release), :mod:`.worker`
(the ``worker`` component), :mod:`.execution` (one delivery), :mod:`.registry` (task kinds),
:mod:`.checkpoints`, :mod:`.windows`, :mod:`.resources`, :mod:`.api`, :mod:`.setup` (wiring).
Imports nothing on purpose, so :mod:`hydra_os.config` can import :mod:`.config` cheaply.
"""
