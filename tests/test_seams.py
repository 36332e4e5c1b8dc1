"""``scripts/check_seams.py`` fails CI on an import cycle, a function over complexity 15 or an
error->status mapping outside the one handler (issue 12, "Numbers"); its allowlist cannot go stale.

The first test runs the real script on this checkout, as CI does; the others feed each rule the shapes
it must catch (the five mappers issue 12 removed, written as they were) and the ones it must let be.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parent.parent
SCRIPT = REPO / "scripts" / "check_seams.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_seams", SCRIPT)
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    sys.modules["check_seams"] = mod  # dataclasses look their module up while the class is built
    spec.loader.exec_module(mod)
    return mod


seams = _load()


def test_the_tree_has_no_violation_beyond_the_pending_list() -> None:
    done = subprocess.run([sys.executable, str(SCRIPT)], capture_output=True, text=True, timeout=600, cwd=REPO)
    assert done.stdout.startswith("{"), done.stderr  # e.g. a package without __init__.py, which grimp cannot see
    result = json.loads(done.stdout)
    assert result["unexpected"] == [], "new seam violations (fix them; see scripts/check_seams.py)"
    assert result["stale"] == [], "PENDING entries that no longer occur: remove them from scripts/check_seams.py"
    assert done.returncode == 0, done.stderr
    assert {"module_cycles", "functions_over_complexity_15", "imports_in_functions", "dict_str_any_returns",
            "loc"} <= result["counts"].keys()


def test_a_stale_or_a_new_entry_fails() -> None:
    report = seams.Report()
    report.add("complexity", "a.py:f")
    assert seams.judge(report, {"complexity:a.py:f": "x"}) == ([], [])
    assert seams.judge(report, {}) == (["complexity:a.py:f"], [])
    assert seams.judge(report, {"complexity:a.py:f": "x", "complexity:b.py:g": "y"}) == ([], ["complexity:b.py:g"])


def _maps(code: str, path: str = "pkg/api.py") -> set[str]:
    finder = seams.StatusMaps(path, {"HydraError", "TaskNotFoundError", "InvalidJobError", "MemoryNotFoundError",
                                     "HealingError", "BusError"})
    finder.visit(ast.parse(code))
    return set(finder.hits)


MAPPERS = {
    "isinstance then a status": """
def _http(e):
    if isinstance(e, TaskNotFoundError):
        return HTTPException(404, str(e))
    return HTTPException(400, str(e))
""",
    "a dict of classes to statuses": """
def _http(e):
    codes = {InvalidJobError: 422}
    return HTTPException(codes.get(type(e), 400), str(e))
""",
    "a conditional expression": """
def _code(err):
    return "404" if isinstance(err, MemoryNotFoundError) else "500"
""",
    "catch and translate in a route": """
async def run():
    try:
        return await go()
    except HealingError as e:
        raise HTTPException(status_code=422, detail=str(e)) from None
""",
    "a bus answer picked for an error": """
async def endpoint(req):
    try:
        await handler()
    except HydraError as e:
        await req.respond_error("400", str(e))
""",
    "an assigned status": """
def _http_error(e):
    if isinstance(e, BusError):
        code = 503
    return HTTPException(code, str(e))
""",
}


@pytest.mark.parametrize("code", MAPPERS.values(), ids=MAPPERS.keys())
def test_each_mapper_shape_is_found(code: str) -> None:
    assert len(_maps(code)) == 1


def test_what_is_not_a_mapping() -> None:
    assert _maps("""
def store():
    if service.gate is None:
        raise HTTPException(503, "the policy service is not started yet")
    raise HTTPException(status.HTTP_401_UNAUTHORIZED, "no token")

async def endpoint(req):
    try:
        await handler()
    except json.JSONDecodeError as e:
        await req.respond_error("400", f"not JSON: {e}")
    except Exception as e:
        await req.respond_error("500", str(e))
""") == set()
    handler = """
async def hydra_error(request, exc):
    detail = field_errors(str(exc)) if exc.http_status == 422 else str(exc)
    return JSONResponse({}, status_code=exc.http_status)
"""
    assert _maps(handler, "hydra_os/api/app.py") == set()


def test_cycles_are_strongly_connected_components() -> None:
    edges = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert seams.strongly_connected(edges) == [["a", "b", "c"]]
    assert seams.package_of("hydra_os.tasks.worker") == "hydra_os.tasks"
    assert seams.package_of("hydra_os.config") == "hydra_os.config"


def test_function_imports_leave_out_type_checking_and_marked_lazy_ones() -> None:
    code = """
def f():
    import json
    if TYPE_CHECKING:
        from x import Y
    # lazy: torch is a heavy optional extra
    import torch
    import numpy  # lazy: heavy optional
    def g():
        import os
"""
    assert seams.function_imports(code) == 2  # json, os


def test_dict_any_returns_and_complexity() -> None:
    code = "def f() -> dict[str, Any]:\n    return {}\n\ndef g() -> dict[str, int]:\n    return {}\n"
    assert seams.dict_any_returns(code) == 1

    def method(ifs: int) -> str:
        body = "".join(f"        if x == {i}:\n            return {i}\n" for i in range(ifs))
        return f"class C:\n    def m(self, x):\n{body}        return 0\n"

    report = seams.Report()
    seams.check_complexity([("ok.py", method(14)), ("big.py", method(15))], report)  # complexity 15 and 16
    assert report.violations == {"complexity": ["big.py:C.m"]}
