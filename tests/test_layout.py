"""Guards on the project's layout and installed packages (CONVENTIONS.md 3.1, pitfalls 1 and 7)."""

from __future__ import annotations

import importlib.metadata
import re
import sys
from pathlib import Path

from django.conf import settings


def _normalized(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _top_level_names() -> set[str]:
    base = Path(settings.BASE_DIR)
    packages = {p.name for p in base.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    modules = {p.stem for p in base.glob("*.py")}
    return packages | modules


def test_layout_no_top_level_package_shadows_the_standard_library():
    names = _top_level_names()
    assert {"backoffice", "accounts"} <= names
    assert not names & set(sys.stdlib_module_names), names & set(sys.stdlib_module_names)


def test_layout_project_package_is_not_named_platform():
    import platform

    # The real standard-library module, with its functions (uuid, Celery and runserver need them).
    assert callable(platform.system)
    assert Path(platform.__file__).parent != Path(settings.BASE_DIR)


def test_layout_archived_django_fsm_is_not_installed_next_to_django_fsm_2():
    installed = {_normalized(dist.metadata["Name"]) for dist in importlib.metadata.distributions() if dist.metadata["Name"]}
    assert "django-fsm-2" in installed
    assert "django-fsm" not in installed


def test_layout_django_fsm_import_comes_from_django_fsm_2():
    import django_fsm

    files = importlib.metadata.files("django-fsm-2") or []
    assert any(str(f).startswith("django_fsm/") for f in files)
    assert hasattr(django_fsm, "FSMField") and hasattr(django_fsm, "can_proceed")


def _import_cycles() -> list[list[str]]:
    """Strongly connected groups of the project's modules (tests and migrations aside), counting
    every import, also those inside functions: a group of more than one module is a circle."""
    import grimp

    graph = grimp.build_graph("accounts", "backoffice", cache_dir=None)
    modules = {m for m in graph.modules if ".tests" not in m and ".migrations" not in m}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(module: str) -> None:  # Tarjan's algorithm
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module) & modules:
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                cycles.append(sorted(group))

    for module in sorted(modules):
        if module not in index:
            visit(module)
    return cycles


def test_layout_no_import_circle_between_modules():
    assert _import_cycles() == []
