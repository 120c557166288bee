"""The house in numbers: modules, lines, the largest modules and functions of src/rnnlab.

    python benchmarks/house.py            # this checkout
    python benchmarks/house.py OTHER_TREE # another checkout (e.g. a git worktree), to compare
"""

from __future__ import annotations

import ast
import pathlib
import sys


def measure(tree: pathlib.Path) -> dict:
    root = tree / "src" / "rnnlab"
    modules, functions = [], []
    for path in sorted(root.rglob("*.py")):
        text = path.read_text()
        name = str(path.relative_to(root))
        modules.append((len(text.splitlines()), name))
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                functions.append((node.end_lineno - node.lineno + 1, f"{name}:{node.name}"))
    modules.sort(reverse=True)
    functions.sort(reverse=True)
    return {"modules": len(modules), "lines": sum(n for n, _ in modules),
            "over 500 lines": [m for m in modules if m[0] > 500],
            "largest modules": modules[:8], "largest functions": functions[:5]}


def main() -> None:
    tree = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else pathlib.Path(__file__).parents[1])
    for key, value in measure(tree.resolve()).items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
