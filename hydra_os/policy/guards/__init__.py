"""Guards the gate applies on top of the rules: attempts/backoff, flapping, budget, maintenance,
and the dependency grouping the healer uses to open one incident per root cause.

Every guard takes a ``clock`` (seconds, ``time.time`` by default) so benches can compress time
while running the real code path.
"""
