"""Checks, one module each, discovered by :func:`hydra_os.healing.registry.discover_checks`.

Each module defines ``CHECK``: a class whose instances satisfy :class:`hydra_os.healing.model.Check`.
"""
