"""NixOS generations, current vs booted system, and the safe switch with automatic rollback."""
