"""Errors of backups and restores (each carries its HTTP status and stable error code)."""

from __future__ import annotations

from typing import ClassVar

from hydra_os.errors import HydraError


class BackupError(HydraError):
    """Taking a backup failed (a store or the bus did not answer, the destination is not writable)."""

    http_status: ClassVar[int] = 503
    code: ClassVar[str] = "backup_failed"


class BackupNotFoundError(BackupError):
    """The named backup is not in the destination."""

    http_status: ClassVar[int] = 404
    code: ClassVar[str] = "backup_not_found"


class BackupInvalidError(BackupError):
    """A backup does not verify: a checksum, the manifest, a part or the audit chain is wrong."""

    http_status: ClassVar[int] = 422
    code: ClassVar[str] = "backup_invalid"
    exit_code = 3


class RestoreTargetError(BackupError):
    """The restore target already holds state (and ``--force`` was not given), or cannot be written."""

    http_status: ClassVar[int] = 409
    code: ClassVar[str] = "restore_target_not_empty"
    exit_code = 2


class ResticError(BackupError):
    """restic is missing, or a restic command failed (its stderr, never the password, is in the message)."""

    code: ClassVar[str] = "restic_failed"
