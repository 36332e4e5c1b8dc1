"""Self-healing: checks, fixups, the healer loop, the process supervisor."""
