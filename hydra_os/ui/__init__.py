"""Mission Control: the owner's web page at ``/ui`` on the node API (see docs/ui.md)."""
