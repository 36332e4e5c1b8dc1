"""Fixups, one module each, discovered by :func:`hydra_os.healing.registry.discover_fixups`.

Each module defines ``FIXUP``: a class whose instances satisfy :class:`hydra_os.healing.model.Fixup`.
"""
