#!/usr/bin/env python3
"""Seam metrics of hydra_os/, memory/ and pipelines/, as JSON; exits 1 on a violation (issue 12).

    python scripts/check_seams.py [--root DIR] [--out FILE]

``--root`` measures another checkout (the "before" numbers in ``bench/results/seams_before.json``
come from the commit this work started on); ``--out`` also writes the JSON to a file.

Rules (each violation fails, unless :data:`PENDING` names it):

``module-cycle``
    An import cycle between modules: a strongly connected component of more than one module in the
    import graph that grimp (import-linter's engine) builds, imports under ``if TYPE_CHECKING:`` and
    inside functions included (both still tie the modules together). Key: the sorted member modules.
``package-cycle``
    The same at package level: each module counts as its package two names deep (``hydra_os.tasks``,
    ``memory.graph``; a module directly in a root, such as ``hydra_os.config``, is its own node). Key:
    each package that sits in such a cycle (so cutting one edge makes exactly the packages it frees stale).
``complexity``
    A function or method (closures included) whose radon cyclomatic complexity is above
    :data:`MAX_COMPLEXITY`. Key: ``path:Class.function``.
``status-map``
    A translation of an error to an HTTP (or nats micro) status outside the one handler,
    ``hydra_os/api/app.py::hydra_error``. An *error class* is ``HydraError`` or any class defined in these
    packages that derives from it (by name, transitively); a *status literal* is an int literal 100..599
    or a string literal of three digits 100..599. Any of these is a mapping:

    * ``HTTPException(...)`` whose status (first argument or ``status_code=``) is not an int literal
      (a computed status), or that is built inside an ``except`` clause (catch-and-translate);
    * a dict display with an error class among its keys and a status literal among its values;
    * an ``if`` (or ``x if ... else y``) whose test calls ``isinstance(..., <error class>)`` and whose
      own branch statements hold a status literal (``return 404``, ``code = 503``, ``return "400"``);
    * inside an ``except`` clause that catches an error class, a call with a status literal argument
      (``respond_error("400", ...)``, ``Reply(400, ...)``, ``JSONResponse(..., status_code=409)``).

    Key: ``path:function`` (``<module>`` at module level), one per function however many hits.

Reported, never failing: function-level imports (``imports_in_functions``; not counted: those under
``if TYPE_CHECKING:``, and deliberately lazy heavy optional imports marked ``# lazy:`` on the import
line or the line above), functions annotated to return ``dict[str, Any]``, and lines of code (radon raw:
``loc`` all lines, ``sloc`` source lines).

A :data:`PENDING` entry that no longer occurs fails too (``stale``), so the list cannot rot: the lead
empties it as each helper's branch lands.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grimp
from radon.complexity import cc_visit
from radon.raw import analyze

ROOTS = ("hydra_os", "memory", "pipelines")
MAX_COMPLEXITY = 15
HANDLER = ("hydra_os/api/app.py", "hydra_error")  # the one place an error becomes an HTTP status

# Known violations still being reshaped, each with the helper whose branch removes it. The lead
# empties this as the branches land; an entry that no longer occurs fails the check (stale).
PENDING: dict[str, str] = {}


@dataclass
class Report:
    violations: dict[str, list[str]] = field(default_factory=dict)  # rule -> keys
    details: dict[str, object] = field(default_factory=dict)

    def add(self, rule: str, key: str) -> None:
        keys = self.violations.setdefault(rule, [])
        if key not in keys:
            keys.append(key)


def sources(root: Path) -> Iterator[tuple[str, str]]:
    """(path relative to root, text) of every Python file of the checked packages."""
    for top in ROOTS:
        for path in sorted((root / top).rglob("*.py")):
            yield path.relative_to(root).as_posix(), path.read_text(encoding="utf-8")


# ---- cycles ------------------------------------------------------------------------------------


def import_edges(root: Path) -> dict[str, set[str]]:
    missing = [d for top in ROOTS for d in (root / top).rglob("*") if d.is_dir() and d.name != "__pycache__"
               and any(d.glob("*.py")) and not (d / "__init__.py").exists()]
    if missing:  # grimp cannot see a namespace package: its imports would silently not count
        raise SystemExit(f"check_seams: no __init__.py in {', '.join(map(str, missing))}")
    sys.path.insert(0, str(root))
    graph = grimp.build_graph(*ROOTS, cache_dir=None)
    return {m: set(graph.find_modules_directly_imported_by(m)) for m in graph.modules}


def strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Components of more than one node (Tarjan, iterative so deep graphs cannot hit the recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                comp = _pop_component(stack, on_stack, node)
                if len(comp) > 1:
                    out.append(sorted(comp))
    return sorted(out)


def _pop_component(stack: list[str], on_stack: set[str], node: str) -> list[str]:
    comp: list[str] = []
    while True:
        member = stack.pop()
        on_stack.discard(member)
        comp.append(member)
        if member == node:
            return comp


def package_of(module: str) -> str:
    return ".".join(module.split(".")[:2])


def check_cycles(root: Path, report: Report) -> None:
    edges = import_edges(root)
    modules = strongly_connected(edges)
    packages: dict[str, set[str]] = {}
    for importer, imported in ((a, b) for a, bs in edges.items() for b in bs):
        if package_of(importer) != package_of(imported):
            packages.setdefault(package_of(importer), set()).add(package_of(imported))
    package_cycles = strongly_connected(packages)
    mutual = sorted({f"{a}<->{b}" for a, bs in packages.items() for b in bs if a < b and a in packages.get(b, ())})
    for comp in modules:
        report.add("module-cycle", ",".join(comp))
    for comp in package_cycles:
        for pkg in comp:
            report.add("package-cycle", pkg)
    report.details.update(module_cycles=modules, package_cycles=package_cycles, package_mutual_imports=mutual,
                          modules=len(edges))


# ---- complexity --------------------------------------------------------------------------------


def check_complexity(files: list[tuple[str, str]], report: Report) -> None:
    over: dict[str, int] = {}
    for path, text in files:
        for name, cc in _functions(cc_visit(text)):
            if cc > MAX_COMPLEXITY:
                over[f"{path}:{name}"] = cc
                report.add("complexity", f"{path}:{name}")
    report.details["complexity_over_15"] = dict(sorted(over.items(), key=lambda kv: -kv[1]))


def _functions(blocks: Iterable[object], prefix: str = "") -> Iterator[tuple[str, int]]:
    for b in blocks:
        if not hasattr(b, "closures"):  # a class: radon lists its methods as functions too
            continue
        owner = getattr(b, "classname", None)
        name = f"{prefix}{owner + '.' if owner and not prefix else ''}{b.name}"  # type: ignore[attr-defined]
        yield name, int(b.complexity)  # type: ignore[attr-defined]
        yield from _functions(b.closures, prefix=name + ".")


# ---- error -> status mappings ------------------------------------------------------------------


def error_classes(files: list[tuple[str, str]]) -> set[str]:
    """Names of HydraError and every class of these packages derived from it (through any base)."""
    bases: dict[str, set[str]] = {}
    for _, text in files:
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef):
                bases.setdefault(node.name, set()).update(_last_name(b) for b in node.bases)
    found = {"HydraError"}
    grew = True
    while grew:
        new = {name for name, bs in bases.items() if bs & found} - found
        found |= new
        grew = bool(new)
    return found


def _last_name(node: ast.AST) -> str:
    if isinstance(node, ast.Attribute):
        return node.attr
    return node.id if isinstance(node, ast.Name) else ""


def _is_status(node: ast.AST) -> bool:
    if not isinstance(node, ast.Constant) or isinstance(node.value, bool):
        return False
    if isinstance(node.value, int):
        return 100 <= node.value <= 599
    return isinstance(node.value, str) and re.fullmatch(r"[1-5]\d\d", node.value) is not None


def _fixed_status(node: ast.expr | None) -> bool:
    """An int literal or a ``status.HTTP_...`` constant: a route's own answer, not a computed one."""
    if isinstance(node, ast.Attribute):
        return node.attr.startswith("HTTP_")
    return isinstance(node, ast.Constant) and _is_status(node)


def _names(node: ast.AST | None) -> set[str]:
    return {_last_name(n) for n in ast.walk(node)} if node is not None else set()


class StatusMaps(ast.NodeVisitor):
    """Finds the four shapes of the ``status-map`` rule in one module (see the module docstring)."""

    def __init__(self, path: str, errors: set[str]) -> None:
        self.path, self.errors = path, errors
        self.scope: list[str] = []
        self.excepts: list[bool] = []  # per enclosing except clause: does it catch an error class?
        self.hits: set[str] = set()

    def _hit(self) -> None:
        where = self.scope[-1] if self.scope else "<module>"
        if (self.path, where) != HANDLER:
            self.hits.add(f"{self.path}:{where}")

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        self.excepts.append(bool(_names(node.type) & self.errors))
        for stmt in node.body:
            self.visit(stmt)
        self.excepts.pop()

    def visit_Call(self, node: ast.Call) -> None:
        args = [*node.args, *(k.value for k in node.keywords)]
        if _last_name(node.func) == "HTTPException":
            first = node.args[0] if node.args else None
            status = next((k.value for k in node.keywords if k.arg == "status_code"), first)
            if not _fixed_status(status) or self.excepts:
                self._hit()
        elif self.excepts and self.excepts[-1] and any(_is_status(a) for a in args):
            self._hit()
        self.generic_visit(node)

    def visit_Dict(self, node: ast.Dict) -> None:
        if any(k is not None and _last_name(k) in self.errors for k in node.keys) and any(
                _is_status(v) for v in node.values):
            self._hit()
        self.generic_visit(node)

    def _branch(self, test: ast.expr, branches: Iterable[ast.AST]) -> None:
        checks = [c for c in ast.walk(test) if isinstance(c, ast.Call) and _last_name(c.func) == "isinstance"]
        if any(_names(c.args[1] if len(c.args) > 1 else None) & self.errors for c in checks) and any(
                _is_status(n) for b in branches for n in _shallow(b)):
            self._hit()

    def visit_If(self, node: ast.If) -> None:
        self._branch(node.test, node.body)
        self.generic_visit(node)

    def visit_IfExp(self, node: ast.IfExp) -> None:
        self._branch(node.test, [node.body, node.orelse])
        self.generic_visit(node)


def _shallow(node: ast.AST) -> Iterator[ast.AST]:
    """The nodes of one branch statement, not descending into nested ifs (they are judged on their own)."""
    yield node
    for child in ast.iter_child_nodes(node):
        if not isinstance(child, ast.If):
            yield from _shallow(child)


def check_status_maps(files: list[tuple[str, str]], report: Report) -> None:
    errors = error_classes(files)
    for path, text in files:
        finder = StatusMaps(path, errors)
        finder.visit(ast.parse(text))
        for key in sorted(finder.hits):
            report.add("status-map", key)


# ---- reported only -----------------------------------------------------------------------------


def function_imports(text: str) -> int:
    lines = text.splitlines()
    count = 0
    for fn in (n for n in ast.walk(ast.parse(text)) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)):
        for node in _own_body(fn):
            if isinstance(node, ast.Import | ast.ImportFrom) and not _lazy(lines, node.lineno):
                count += 1
    return count


def _own_body(fn: ast.AST) -> Iterator[ast.AST]:
    """A function's statements, skipping nested functions (counted on their own) and TYPE_CHECKING blocks."""
    for child in ast.iter_child_nodes(fn):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef | ast.Lambda):
            continue
        if isinstance(child, ast.If) and "TYPE_CHECKING" in _names(child.test):
            yield from (n for stmt in child.orelse for n in [stmt, *_own_body(stmt)])
            continue
        yield child
        yield from _own_body(child)


def _lazy(lines: list[str], lineno: int) -> bool:
    return any("# lazy:" in lines[i - 1] for i in (lineno, lineno - 1) if 0 < i <= len(lines))


def dict_any_returns(text: str) -> int:
    return sum(1 for n in ast.walk(ast.parse(text)) if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef)
               and n.returns is not None and ast.unparse(n.returns).replace("typing.", "") in
               ("dict[str, Any]", "Dict[str, Any]"))


def judge(report: Report, pending: dict[str, str]) -> tuple[list[str], list[str]]:
    """(violations not pending, pending entries no longer found), each ``rule:key``."""
    found = {f"{rule}:{key}" for rule, keys in report.violations.items() for key in keys}
    return sorted(found - set(pending)), sorted(set(pending) - found)


def measure(root: Path) -> dict[str, object]:
    files = list(sources(root))
    report = Report()
    check_cycles(root, report)
    check_complexity(files, report)
    check_status_maps(files, report)
    raw = [analyze(text) for _, text in files]
    unexpected, stale = judge(report, PENDING)
    counts = {
        "module_cycles": len(report.details["module_cycles"]),  # type: ignore[arg-type]
        "package_cycles": len(report.details["package_cycles"]),  # type: ignore[arg-type]
        "packages_in_cycles": len(report.violations.get("package-cycle", [])),
        "package_mutual_imports": len(report.details["package_mutual_imports"]),  # type: ignore[arg-type]
        "functions_over_complexity_15": len(report.violations.get("complexity", [])),
        "status_maps": len(report.violations.get("status-map", [])),
        "imports_in_functions": sum(function_imports(t) for _, t in files),
        "dict_str_any_returns": sum(dict_any_returns(t) for _, t in files),
        "files": len(files),
        "loc": sum(r.loc for r in raw),
        "sloc": sum(r.sloc for r in raw),
    }
    return {
        "counts": counts,
        "violations": report.violations,
        "details": report.details,
        "unexpected": unexpected,  # fails: a violation nobody is reshaping
        "stale": stale,  # fails: a pending entry that is already gone
        "pending": dict(sorted(PENDING.items())),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    result = measure(args.root.resolve())
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 1 if result["unexpected"] or result["stale"] else 0


if __name__ == "__main__":
    sys.exit(main())
