"""``PolicyEngine.decide(action) -> Decision``: the rules alone, no guards (those are in the gate).

The engine holds the current :class:`~hydra_os.policy.rules.Policy`. ``reload()`` swaps in a new
one only when it loads cleanly; on a malformed file the last good policy stays and the error is
returned, so a running daemon never drops to no policy.
"""

from __future__ import annotations

from pathlib import Path

from hydra_os.policy.errors import PolicyFileError
from hydra_os.policy.loader import load_policy
from hydra_os.policy.model import Action, Decision, Level
from hydra_os.policy.rules import UNKNOWN_RULE_ID, Policy


class PolicyEngine:
    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self.last_error: str | None = None

    @classmethod
    def from_file(cls, path: Path | None) -> PolicyEngine:
        """Load at startup; a malformed file raises PolicyFileError (the daemon refuses to start)."""
        return cls(load_policy(path))

    def reload(self, path: Path | None) -> PolicyFileError | None:
        """Load ``path`` again; keep the last good policy on error and return the error."""
        try:
            self.policy = load_policy(path)
        except PolicyFileError as e:
            self.last_error = str(e)
            return e
        self.last_error = None
        return None

    def decide(self, action: Action) -> Decision:
        h = action.content_hash()
        rule = self.policy.match(action)
        if rule is None:
            return Decision(
                level=Level.ASK_FIRST,
                rule_id=UNKNOWN_RULE_ID,
                reason=f"no rule matches {action.kind!r} on {action.target!r}; unknown actions ask first",
                action_hash=h,
                base_level=Level.ASK_FIRST,
            )
        return Decision(level=rule.level, rule_id=rule.id, reason=rule.describe(), action_hash=h,
                        base_level=rule.level)
