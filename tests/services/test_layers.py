"""The areas of services/ depend one way, with no import circle, not even for types."""
from __future__ import annotations

import ast
from pathlib import Path

SERVICES = Path(__file__).resolve().parents[2] / "services"
# Each area may import those before it, never one after it.
AREAS = ["persistence", "identity", "org", "notify", "workflow", "pay", "reporting"]
LEAVES = {"services.errors", "services.settings"}


def imports_of(path: Path) -> set[str]:
    """Every services module `path` imports, at run time or for type checking only."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0 \
                and node.module.startswith("services"):
            found.add(node.module)
            found |= {f"{node.module}.{alias.name}" for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names if alias.name.startswith("services")}
    return found


def modules() -> dict[str, Path]:
    return {".".join(path.relative_to(SERVICES.parent).with_suffix("").parts): path
            for path in SERVICES.rglob("*.py") if path.name != "__init__.py"}


def area_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 2 and parts[1] in AREAS else None


def test_no_service_module_is_imported_with_a_relative_import():
    for name, path in modules().items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        assert not [node for node in ast.walk(tree)
                    if isinstance(node, ast.ImportFrom) and node.level], name


def test_each_area_imports_only_the_areas_before_it():
    known = modules()
    for name, path in known.items():
        area = area_of(name)
        if area is None:
            continue
        allowed = set(AREAS[:AREAS.index(area) + 1])
        for imported in imports_of(path):
            target = area_of(imported)
            assert imported in LEAVES or target is None or target in allowed, \
                f"{name} imports {imported}"


def test_service_modules_import_no_circle():
    known = modules()
    graph = {name: {imported for imported in imports_of(path) if imported in known}
             for name, path in known.items()}
    visiting, done = set(), set()

    def visit(name: str, trail: list[str]) -> None:
        assert name not in visiting, " -> ".join([*trail, name])
        if name in done:
            return
        visiting.add(name)
        for imported in sorted(graph[name]):
            visit(imported, [*trail, name])
        visiting.discard(name)
        done.add(name)

    for name in sorted(graph):
        visit(name, [])
