"""Core memory backends: native (state dir) and Letta (``letta-client``); shared logic in ``blocks``."""
