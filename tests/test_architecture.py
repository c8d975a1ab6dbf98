"""The layering of docs/architecture.md, read from the modules' own imports.

Every import of a ``sqlcompiler`` module (top level or inside a function) is an edge; a module
may import its own package and the layers below its own, never above, and the edges form no
cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import sqlcompiler

PACKAGE = Path(sqlcompiler.__file__).resolve().parent

# low -> high; a module may import from its own package and from lower layers only
LAYERS: dict[str, int] = {
    "errors": 0,
    "progress": 0,
    "infra": 1,
    "config": 2,
    "compiler": 3,
    "reference": 3,
    "source": 4,
    "run": 5,
    "kafka": 6,
    "demo": 6,
    "api": 7,
    "console": 8,
    "ui": 8,
    "cli": 9,
    "__main__": 10,
}
# config is read by every stage and depends on nothing of ours but the errors
ONLY = {"config": {"errors"}}
# the one door: what people and programs touch reaches the library through sqlcompiler.api
DOOR = {"api", "errors", "progress", "__init__"}
FRONTS = ("cli", "console", "ui")


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _exists(dotted: str) -> bool:
    rel = Path(*dotted.split(".")[1:])
    return (PACKAGE / rel).with_suffix(".py").is_file() or (PACKAGE / rel / "__init__.py").is_file()


def _imports(path: Path) -> set[str]:
    """The sqlcompiler modules ``path`` imports, resolved to dotted names."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("sqlcompiler")}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            elif node.module and node.module.startswith("sqlcompiler"):
                target = node.module
            else:
                continue
            for alias in node.names:  # `from . import relay` imports the module relay
                sub = f"{target}.{alias.name}"
                found.add(sub if _exists(sub) else target)
    return found


def _graph() -> dict[str, set[str]]:
    return {_module_name(p): _imports(p) for p in PACKAGE.rglob("*.py")}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_no_import_from_a_higher_layer():
    wrong = []
    for module, targets in _graph().items():
        mine = _layer(module)
        if mine == "__init__":
            continue
        for target in targets:
            theirs = _layer(target)
            if theirs in (mine, "__init__"):
                continue
            if mine in ONLY and theirs not in ONLY[mine]:
                wrong.append(f"{module} -> {target} ({mine} may use only {sorted(ONLY[mine])})")
            elif LAYERS[theirs] >= LAYERS[mine]:
                wrong.append(f"{module} (layer {mine}) -> {target} (layer {theirs})")
    assert not wrong, "\n".join(sorted(wrong))


def test_front_ends_use_only_the_api():
    """The CLI, the console and the workbench import sqlcompiler.api (and the errors and the
    progress callback), never the stages below it: one door, so tests and pages call what the
    commands call."""
    wrong = sorted(
        f"{module} -> {target}"
        for module, targets in _graph().items()
        if _layer(module) in FRONTS
        for target in targets
        if _layer(target) not in DOOR | set(FRONTS)
    )
    assert not wrong, "\n".join(wrong)


def test_no_import_cycles():
    graph = _graph()
    state: dict[str, int] = {}  # 1 visiting, 2 done
    cycles = []

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if nxt == node or nxt not in graph:
                continue
            if state.get(nxt) == 1:
                cycles.append(" -> ".join(path[path.index(nxt) :] + [nxt]))
            elif state.get(nxt) is None:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [node])
    assert not cycles, "\n".join(cycles)


def test_every_layer_is_known_and_no_path_arithmetic():
    """New top-level modules get a place in the layering; resources go through one helper."""
    assert {_layer(m) for m in _graph()} - {"__init__"} <= set(LAYERS)
    offenders = [
        str(p.relative_to(PACKAGE))
        for p in PACKAGE.rglob("*.py")
        if "parent.parent" in p.read_text(encoding="utf-8")
    ]
    assert offenders == []


def test_the_configuration_model_needs_no_database():
    """config/ is the pure model (files, operands, dates, validation, canonical form, lint);
    only config/db/ talks to PostgreSQL, so the model can be read, validated and tested alone."""
    offenders = []
    for path in (PACKAGE / "config").rglob("*.py"):
        if "db" in path.relative_to(PACKAGE / "config").parts[:-1]:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = (
                [a.name for a in node.names]
                if isinstance(node, ast.Import)
                else [node.module or ""]
                if isinstance(node, ast.ImportFrom) and not node.level
                else []
            )
            if any(n == "psycopg" or n.startswith("psycopg.") for n in names):
                offenders.append(str(path.relative_to(PACKAGE)))
    assert offenders == []
