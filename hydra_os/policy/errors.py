"""Errors of the policy slice.

Hierarchy (all under :class:`hydra_os.errors.HydraError`)::

    PolicyError                 base of everything below
    ├── PolicyFileError         the owner's policy file is malformed: names the file, line and problem
    │                           (also a ConfigError: CLI exit 2)
    ├── ApprovalError           an approval cannot be done as asked (exit 2)
    │   ├── ApprovalNotFoundError   no approval with that id (also a NotFoundError)
    │   ├── ApprovalStateError      already denied / expired / executed, or not pending
    │   └── ActionHashMismatchError the stored action no longer matches its recorded hash
    └── AuditError              the audit trail cannot be read
"""

from __future__ import annotations

from hydra_os.errors import ConfigError, HydraError, NotFoundError


class PolicyError(HydraError):
    """Base of the policy slice's errors."""


class PolicyFileError(PolicyError, ConfigError):
    """The policy file is malformed; the message names the file, the line and the problem."""

    exit_code = 2

    def __init__(self, path: str, problem: str, line: int | None = None) -> None:
        self.path = path
        self.line = line
        self.problem = problem
        where = f"{path} line {line}" if line else path
        super().__init__(f"policy file {where}: {problem}")


class ApprovalError(PolicyError):
    exit_code = 2


class ApprovalNotFoundError(ApprovalError, NotFoundError):
    exit_code = 2


class ApprovalStateError(ApprovalError):
    def __init__(self, message: str, state: str) -> None:
        self.state = state
        super().__init__(message)


class ActionHashMismatchError(ApprovalError):
    pass


class AuditError(PolicyError):
    exit_code = 2
