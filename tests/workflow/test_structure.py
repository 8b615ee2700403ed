"""The project's own limits on its shape: modules ≤ 400 lines, functions ≤ 80 lines, workflow
scripts ≤ 30 lines, and imports only downward (attacks import nothing of defenses,
evaluation or cells; defenses nothing of evaluation or cells).

`KNOWN_OVER` lists what is over a limit today and still to be split (issue 15); the test
fails on anything new over a limit and on any entry that is no longer over it, so the list
only shrinks."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "src" / "decoybench"
MODULE_LINES = 400
FUNCTION_LINES = 80
SCRIPT_LINES = 30
# Package -> packages of decoybench it must not import (a lower layer never imports a
# higher one).
FORBIDDEN_IMPORTS: dict[str, tuple[str, ...]] = {
    "attacks": ("defenses", "evaluation", "cells", "papers"),
    "defenses": ("evaluation", "cells", "papers"),
    "models": ("defenses", "evaluation", "cells", "papers"),
    "data": ("models", "attacks", "defenses", "evaluation", "cells", "papers"),
    "metrics": ("models", "attacks", "defenses", "cells", "papers", "tables", "figures"),
    "io": ("models", "attacks", "defenses", "cells", "papers", "tables", "figures"),
    "runtime": ("models", "attacks", "defenses", "cells", "papers", "tables", "figures"),
}

KNOWN_OVER: set[str] = set()


def _package_files() -> list[Path]:
    return sorted(path for path in PACKAGE.rglob("*.py") if "__pycache__" not in path.parts)


def _name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def over_limits() -> set[str]:
    """Every module, function and workflow script over its limit, one line each."""
    found = set()
    for path in _package_files():
        lines = len(path.read_text().splitlines())
        if lines > MODULE_LINES:
            found.add(f"module {_name(path)}")
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = node.end_lineno - node.lineno + 1
                if length > FUNCTION_LINES:
                    found.add(f"function {_name(path)}:{node.name}")
    for path in sorted((ROOT / "workflow_scripts").glob("*.py")):
        if len(path.read_text().splitlines()) > SCRIPT_LINES:
            found.add(f"script {_name(path)}")
    return found


def upward_imports() -> set[str]:
    """`module -> imported module` for each import a lower layer makes of a higher one."""
    found = set()
    for path in _package_files():
        parts = path.relative_to(PACKAGE).parts
        forbidden = FORBIDDEN_IMPORTS.get(parts[0].removesuffix(".py"), ())
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                pieces = name.split(".")
                if pieces[0] == "decoybench" and len(pieces) > 1 and pieces[1] in forbidden:
                    found.add(f"{_name(path)} -> {name}")
    return found


KNOWN_UPWARD: set[str] = set()


def test_nothing_new_is_over_a_limit_and_the_known_list_only_shrinks() -> None:
    found = over_limits()
    assert not found - KNOWN_OVER, f"over a limit (split it): {sorted(found - KNOWN_OVER)}"
    fixed = sorted(KNOWN_OVER - found)
    assert not fixed, f"no longer over a limit: remove from KNOWN_OVER {fixed}"


def test_imports_go_only_downward() -> None:
    found = upward_imports()
    assert not found - KNOWN_UPWARD, f"upward imports: {sorted(found - KNOWN_UPWARD)}"
    fixed = sorted(KNOWN_UPWARD - found)
    assert not fixed, f"fixed: remove from KNOWN_UPWARD {fixed}"
