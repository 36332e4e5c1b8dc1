"""Single-use capability links for approving or denying one action from the phone (the web page's
``/ui/link/<token>``; ntfy's buttons and the briefing carry them).

A link is ``<public_url>/ui/link/<token>``; the token is ``<payload>.<mac>`` where the payload
names one approval id, one verb (approve/deny), an expiry (the approval's) and a random nonce, and
the mac is HMAC-SHA256 over it with a key kept in the state dir (``ui-link-key``, mode 0600,
generated on first use). It never contains the API token. Changing any part (another approval id,
the other verb, a later expiry) breaks the mac. A used nonce is appended to ``ui-links-used.jsonl``
(fsync'd before the action runs), so a second use is refused even after a restart. A GET only shows
a confirmation page (link previews and prefetchers must not act); the POST acts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import ClassVar

from hydra_os.errors import HydraError
from hydra_os.notify import NotifyAction

KEY_FILE = "ui-link-key"
USED_FILE = "ui-links-used.jsonl"


class LinkRefusedError(HydraError):
    """A phone approval link that is forged, expired, already used or for another approval."""

    http_status: ClassVar[int] = 403
    code: ClassVar[str] = "link_refused"


class Verb(StrEnum):
    APPROVE = "approve"
    DENY = "deny"


@dataclass(frozen=True)
class LinkClaim:
    approval_id: str
    verb: Verb
    expires_at: float
    nonce: str


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_key(state_dir: Path) -> bytes:
    """The link-signing key; created 0600 on first use (O_EXCL, so two starts cannot race)."""
    path = state_dir / KEY_FILE
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return bytes.fromhex(path.read_text().strip())
    with os.fdopen(fd, "w") as f:
        f.write(secrets.token_hex(32) + "\n")
    return bytes.fromhex(path.read_text().strip())


class ApprovalLinks:
    def __init__(self, key: bytes, used_path: Path, clock: Callable[[], float] = time.time) -> None:
        self._key = key
        self.used_path = used_path
        self.clock = clock
        self._used: dict[str, float] = self._load_used()

    @classmethod
    def open(cls, state_dir: Path) -> ApprovalLinks:
        return cls(load_key(state_dir), state_dir / USED_FILE)

    def _load_used(self) -> dict[str, float]:
        used: dict[str, float] = {}
        if not self.used_path.exists():
            return used
        for line in self.used_path.read_text().splitlines():
            try:
                rec = json.loads(line)
                used[str(rec["nonce"])] = float(rec["expires_at"])
            except (ValueError, KeyError, TypeError):
                continue  # a torn last line after a crash: the nonces before it still count
        return used

    def _mac(self, payload: str) -> str:
        return _b64(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())

    def sign(self, approval_id: str, verb: Verb, expires_at: float) -> str:
        payload = _b64(json.dumps([approval_id, verb.value, round(expires_at, 3), secrets.token_urlsafe(12)],
                                  separators=(",", ":")).encode())
        return f"{payload}.{self._mac(payload)}"

    def read(self, token: str) -> LinkClaim:
        """The claim of a genuine, unexpired, unused link; else :class:`LinkRefusedError`."""
        payload, _, mac = token.partition(".")
        if not mac or not hmac.compare_digest(mac.encode(), self._mac(payload).encode()):
            raise LinkRefusedError("this approval link is not genuine")
        try:
            aid, verb, exp, nonce = json.loads(_unb64(payload))
            claim = LinkClaim(str(aid), Verb(verb), float(exp), str(nonce))
        except (ValueError, TypeError):
            raise LinkRefusedError("this approval link is malformed") from None
        if self.clock() >= claim.expires_at:
            raise LinkRefusedError("this approval link has expired")
        if claim.nonce in self._used:
            raise LinkRefusedError("this approval link was already used")
        return claim

    def claim(self, token: str) -> LinkClaim:
        """Check the link and mark it used in memory, in one step without an await in between (two
        concurrent uses cannot both pass); the caller then records it (:meth:`record`) before acting."""
        claim = self.read(token)
        self._used[claim.nonce] = claim.expires_at
        return claim

    def record(self, claim: LinkClaim) -> None:
        """Append the used nonce to the used-links file and fsync (blocking: run it in a thread)."""
        line = json.dumps({"nonce": claim.nonce, "expires_at": claim.expires_at, "approval": claim.approval_id,
                           "verb": claim.verb.value, "used_at": self.clock()}) + "\n"
        fd = os.open(self.used_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, line.encode())
            os.fsync(fd)
        finally:
            os.close(fd)

    def url(self, public_url: str, approval_id: str, verb: Verb, expires_at: float) -> str:
        return f"{public_url}/ui/link/{self.sign(approval_id, verb, expires_at)}"

    def buttons(self, public_url: str, approval_id: str, expires_at: float) -> list[NotifyAction]:
        """ntfy's Approve and Deny buttons for one approval, each its own single-use link."""
        return [NotifyAction(label=v.value.capitalize(), url=self.url(public_url, approval_id, v, expires_at))
                for v in (Verb.APPROVE, Verb.DENY)]
