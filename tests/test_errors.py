"""Every deliberate error carries its own wire form (issue 12 item 1): an HTTP status and a stable code.

Contract tests over the whole tree, so a new error class cannot forget its code, and a class with two
bases (``MemoryNotFoundError(MemoryLayerError, NotFoundError)``) cannot silently take the first base's
status instead of the one its second base promises.
"""

from __future__ import annotations

import importlib
import pkgutil
import re

import pytest

import hydra_os
import memory
import pipelines
from hydra_os.errors import BusError, HydraError, NotFoundError
from memory import errors as merr


def _all_errors() -> list[type[HydraError]]:
    for pkg in (hydra_os, memory, pipelines):  # import every errors module so every class is defined
        for mod in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
            if mod.name.rsplit(".", 1)[-1] == "errors":
                importlib.import_module(mod.name)
    seen: list[type[HydraError]] = []
    todo: list[type[HydraError]] = [HydraError]
    while todo:
        cls = todo.pop()
        if cls in seen:  # reached through both bases of a two-base class
            continue
        seen.append(cls)
        todo.extend(c for c in cls.__subclasses__() if c.__module__.split(".")[0] in ("hydra_os", "memory",
                                                                                       "pipelines"))
    return seen


ERRORS = _all_errors()


@pytest.mark.parametrize("cls", ERRORS, ids=lambda c: c.__name__)
def test_each_error_names_its_own_code_and_a_real_status(cls: type[HydraError]) -> None:
    assert "code" in vars(cls), f"{cls.__name__} must set its own code (else it answers its base's)"
    assert re.fullmatch(r"[a-z][a-z0-9_]*", cls.code)
    assert 400 <= cls.http_status <= 599


def test_codes_are_unique() -> None:
    codes = [c.code for c in ERRORS]
    assert len(codes) == len(set(codes)), sorted(c for c in codes if codes.count(c) > 1)


@pytest.mark.parametrize("cls", ERRORS, ids=lambda c: c.__name__)
def test_a_second_base_keeps_its_promise(cls: type[HydraError]) -> None:
    if issubclass(cls, NotFoundError):
        assert cls.http_status == 404
    if issubclass(cls, BusError):
        assert cls.http_status == 503


def test_the_memory_bus_codes_are_the_ones_the_service_always_sent() -> None:
    # memory/service.py answered 400 for bad input and a model mismatch, 404 for not found, 500 otherwise:
    # the micro error code derived from http_status must keep that wire format
    sent = {merr.MemoryInputError: "400", merr.BlockLimitError: "400", merr.BlockEditError: "400",
            merr.BackupFormatError: "400", merr.EmbeddingModelMismatchError: "400",
            merr.MemoryNotFoundError: "404", merr.MemoryLayerError: "500", merr.MemoryBackendError: "500",
            merr.MemoryStoreDownError: "500", merr.MemoryDiskSpaceError: "500",
            merr.MemoryUnavailableError: "500", merr.MemoryOutcomeUnknownError: "500"}
    assert {cls: cls("x").service_code for cls in sent} == sent
