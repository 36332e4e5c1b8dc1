"""Hydra OS: a self-hosted AI operating system for a homelab."""

__version__ = "0.1.0"
