"""Errors of the task queue and the scheduler.

Hierarchy (all under :class:`hydra_os.errors.HydraError`)::

    HydraError                                     (HTTP status, code)
    ├── TaskError                 400 task_error        base of the task queue's errors
    │   ├── InvalidTaskError      422 task_invalid      a bad task spec or request (names the field; CLI exit 2)
    │   ├── TaskStateError        409 task_state        the task is not in a state that allows the operation
    │   ├── UnknownKindError      400 unknown_kind      no handler for a task kind on this node
    │   ├── CheckpointError       400 checkpoint_failed a step result could not be stored (too large, not JSON)
    │   └── PermanentTaskError    400 task_permanent    raised by a handler: fail now, do not retry
    ├── NotFoundError
    │   └── TaskNotFoundError     404 task_not_found    no task with that id
    └── BusError                  503                   (bus failures inside the queue are translated to this)

Library errors (nats, sqlalchemy, APScheduler) are translated where they happen.
"""

from __future__ import annotations

from hydra_os.errors import HydraError, NotFoundError


class TaskError(HydraError):
    """Base of task queue errors."""

    http_status = 400
    code = "task_error"


class InvalidTaskError(TaskError):
    """A task spec or request is invalid; the message names the field and what was expected."""

    http_status = 422
    code = "task_invalid"
    exit_code = 2


class TaskStateError(TaskError):
    """The operation is not allowed in the task's current state (e.g. retrying a running task)."""

    http_status = 409
    code = "task_state"
    exit_code = 2


class UnknownKindError(TaskError):
    """No handler is registered for a task kind."""

    code = "unknown_kind"
    exit_code = 2


class CheckpointError(TaskError):
    """A step's result could not be checkpointed."""

    code = "checkpoint_failed"


class TaskNotFoundError(NotFoundError):
    """No task with that id exists."""

    code = "task_not_found"
    exit_code = 2


class PermanentTaskError(TaskError):
    """A handler raises this when retrying cannot help (bad parameters): the task fails at once."""

    code = "task_permanent"
