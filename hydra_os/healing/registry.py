"""Discovery: every module of ``checks/`` and ``fixups/`` that defines ``CHECK`` / ``FIXUP``.

Like Home Assistant Supervisor's resolution center, adding a check or a fixup is adding one file;
nothing else lists them. A module without the attribute is an error (a typo should not silently
disable a check), and so is a duplicate name.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType
from typing import Any

from hydra_os.healing import checks as checks_pkg
from hydra_os.healing import fixups as fixups_pkg
from hydra_os.healing.errors import HealingError
from hydra_os.healing.model import Check, Fixup


def _discover(pkg: ModuleType, attr: str, proto: type) -> list[Any]:
    found: dict[str, Any] = {}
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{pkg.__name__}.{info.name}")
        cls = getattr(mod, attr, None)
        if cls is None:
            raise HealingError(f"{mod.__name__} defines no {attr}")
        obj: Any = cls()
        name = str(getattr(obj, "name", ""))
        if not name or not isinstance(obj, proto):
            raise HealingError(f"{mod.__name__}.{attr} does not implement {proto.__name__}")
        if name in found:
            raise HealingError(f"two {attr.lower()}s are named {name!r}")
        found[name] = obj
    return list(found.values())


def discover_checks() -> list[Check]:
    return _discover(checks_pkg, "CHECK", Check)


def discover_fixups() -> list[Fixup]:
    """Sorted by priority (lower first), then name."""
    fixups: list[Fixup] = _discover(fixups_pkg, "FIXUP", Fixup)
    return sorted(fixups, key=lambda f: (f.priority, f.name))
