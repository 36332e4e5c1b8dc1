"""Errors of the policy engine (rules, approvals, maintenance windows, the audit trail).

Hierarchy (all under :class:`hydra_os.errors.HydraError`)::

    PolicyError                     400 policy_error          base of everything below
    ├── PolicyFileError             400 policy_file_invalid   the owner's policy file is malformed: names the
    │                                                         file, line and problem (also a ConfigError: exit 2)
    ├── ApprovalError               400 approval_error        an approval cannot be done as asked (exit 2)
    │   ├── ApprovalNotFoundError   404 approval_not_found    no approval with that id (also a NotFoundError)
    │   ├── ApprovalStateError      409 approval_state        already denied / expired / executed, or not pending
    │   └── ActionHashMismatchError 409 action_hash_mismatch  the stored action no longer matches its recorded hash
    └── AuditError                  400 audit_unreadable      the audit trail cannot be read
"""

from __future__ import annotations

from hydra_os.errors import ConfigError, HydraError, NotFoundError


class PolicyError(HydraError):
    """Base of the policy engine's errors."""

    http_status = 400
    code = "policy_error"


class PolicyFileError(PolicyError, ConfigError):
    """The policy file is malformed; the message names the file, the line and the problem."""

    http_status = 400
    code = "policy_file_invalid"
    exit_code = 2

    def __init__(self, path: str, problem: str, line: int | None = None) -> None:
        self.path = path
        self.line = line
        self.problem = problem
        where = f"{path} line {line}" if line else path
        super().__init__(f"policy file {where}: {problem}")


class ApprovalError(PolicyError):
    code = "approval_error"
    exit_code = 2


class ApprovalNotFoundError(ApprovalError, NotFoundError):
    http_status = 404
    code = "approval_not_found"
    exit_code = 2


class ApprovalStateError(ApprovalError):
    http_status = 409
    code = "approval_state"
    def __init__(self, message: str, state: str) -> None:
        self.state = state
        super().__init__(message)


class ActionHashMismatchError(ApprovalError):
    http_status = 409
    code = "action_hash_mismatch"


class AuditError(PolicyError):
    code = "audit_unreadable"
    exit_code = 2
