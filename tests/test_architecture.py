"""The house's one rule: lower floors never import higher ones (docs/architecture.md).

Each module of src/rnnlab sits on a floor; a module may import modules of its own floor and
of the floors below, never above. The import graph is read from the source (every
``import`` and ``from ... import`` of an rnnlab module, wherever it stands in the file), so
a new module must be given its floor here, and an import that climbs fails this test.
"""

import ast
import pathlib

import pytest

SRC = pathlib.Path(__file__).resolve().parents[1] / "src"

# The floors, lowest first: what each module may import is its own floor and those below.
FLOORS = [
    ("base", ["rnnlab.backend", "rnnlab._checks"]),
    ("specification and layer data", ["rnnlab.reference", "rnnlab.init", "rnnlab.data.padding"]),
    ("fast path", ["rnnlab.cells"]),
    ("modules", ["rnnlab.layers", "rnnlab.losses"]),
    ("optimization", ["rnnlab.optim"]),
    ("training", ["rnnlab.data", "rnnlab.data.batching", "rnnlab._safetensors", "rnnlab.io",
                  "rnnlab.saved_model", "rnnlab.training"]),
    ("applications", ["rnnlab.estimators", "rnnlab.estimator_inputs",
                      "rnnlab.estimator_saving", "rnnlab.estimator_protocol", "rnnlab.datasets",
                      "rnnlab.data_files", "rnnlab.serving",
                      "rnnlab.tasks", "rnnlab.diagnostics", "rnnlab.gradcheck",
                      "rnnlab.explain", "rnnlab.text"]),
    ("laboratory", ["rnnlab.experiments"]),
    ("command line", ["rnnlab.cli"]),
]
FLOOR = {prefix: level for level, (_, prefixes) in enumerate(FLOORS) for prefix in prefixes}


def floor_of(module: str) -> int:
    """The floor of the longest prefix in FLOORS that names ``module`` or a package of it."""
    parts = module.split(".")
    for n in range(len(parts), 0, -1):
        prefix = ".".join(parts[:n])
        if prefix in FLOOR:
            return FLOOR[prefix]
    raise KeyError(module)


def modules():
    """(module name, path) of every module in src/rnnlab, the package's own __init__ aside
    (it gathers the public names from every floor)."""
    for path in sorted((SRC / "rnnlab").rglob("*.py")):
        parts = path.relative_to(SRC).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        name = ".".join(parts)
        if name != "rnnlab":
            yield name, path


def imports(path: pathlib.Path, module: str) -> set:
    """The rnnlab modules that ``path`` imports (``from rnnlab import x`` as rnnlab.x when x
    is a module; the package root itself, for ``__version__``, is not a floor's)."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("rnnlab.")}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{module}: absolute imports only (rnnlab.x), as the house has"
            base = node.module
            if base == "rnnlab":
                found |= {f"rnnlab.{a.name}" for a in node.names
                          if (SRC / "rnnlab" / a.name).exists()
                          or (SRC / "rnnlab" / f"{a.name}.py").exists()}
            elif base.startswith("rnnlab."):
                found.add(base)
    return found


def test_every_module_has_a_floor():
    missing = [name for name, _ in modules() if not any(
        name == p or name.startswith(p + ".") for p in FLOOR)]
    assert not missing, f"give these modules a floor in FLOORS: {missing}"


@pytest.mark.parametrize("name,path", list(modules()), ids=lambda v: str(v).split("/")[-1])
def test_no_module_imports_a_higher_floor(name, path):
    mine = floor_of(name)
    climbing = sorted(f"{dep} ({FLOORS[floor_of(dep)][0]})" for dep in imports(path, name)
                      if floor_of(dep) > mine)
    assert not climbing, f"{name} ({FLOORS[mine][0]}) imports a higher floor: {climbing}"


def test_the_rule_has_teeth(tmp_path):
    """An import that climbs is seen: a layer importing the Trainer."""
    fake = tmp_path / "bad.py"
    fake.write_text("from rnnlab.training import Trainer\nimport rnnlab.cli\n")
    found = imports(fake, "rnnlab.layers.bad")
    assert found == {"rnnlab.training", "rnnlab.cli"}
    assert all(floor_of(dep) > floor_of("rnnlab.layers.bad") for dep in found)
