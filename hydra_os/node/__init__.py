"""One node: what it is (info), who else is there (membership), and how to control it (rpc)."""
