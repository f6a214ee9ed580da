"""The test suite's layout: test modules in the folders that mirror the package, and no test module importing
another (what tests share is in ``tests/helpers.py`` and the fixtures in ``tests/conftest.py``)."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
#: the only test modules at the top of tests/: checks of the whole house, not of one floor
TOP_LEVEL = {"test_architecture.py", "test_examples.py", "test_layout.py"}


def _imported_modules(path: Path, root: Path = TESTS.parent) -> set[str]:
    """Every module ``path`` imports, at any depth of its code (``from . import x`` resolved against ``root``)."""
    rel = path.relative_to(root).with_suffix("").parts
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(rel[: len(rel) - node.level]) if node.level else ""
            mod = ".".join(p for p in (base, node.module or "") if p)
            found.add(mod)
            found |= {f"{mod}.{a.name}" for a in node.names}
    return found


def _is_test_module(name: str) -> bool:
    parts = name.split(".")
    return parts[0] == "tests" and any(p.startswith("test_") or p == "conftest" for p in parts[1:])


def test_no_test_module_imports_another() -> None:
    offenders = {
        str(p.relative_to(TESTS)): sorted(m for m in _imported_modules(p) if _is_test_module(m))
        for p in sorted(TESTS.rglob("*.py"))
    }
    assert {p: mods for p, mods in offenders.items() if mods} == {}


def test_the_check_finds_an_import_of_a_test_module(tmp_path: Path) -> None:
    # the check above must be able to fail: a module written the way the old suite did is caught
    bad = tmp_path / "tests" / "io" / "test_probe.py"
    bad.parent.mkdir(parents=True)
    bad.write_text("from tests.cli.test_api import x\nfrom .test_ebsd import y\nimport tests.conftest\n"
                   "from tests.helpers import tree_hash\n")
    assert sorted(m for m in _imported_modules(bad, tmp_path) if _is_test_module(m)) == [
        "tests.cli.test_api", "tests.cli.test_api.x", "tests.conftest", "tests.io.test_ebsd", "tests.io.test_ebsd.y"]


def test_test_modules_sit_in_the_package_folders() -> None:
    flat = {p.name for p in TESTS.glob("test_*.py")} - TOP_LEVEL
    assert flat == set(), "a new test goes in the folder of the floor it tests (ARCHITECTURE.md)"
    folders = {p.parent for p in TESTS.rglob("test_*.py")} - {TESTS}
    # without __init__.py two folders' test_x.py would be one module name to pytest
    assert {str(f.relative_to(TESTS)) for f in folders if not (f / "__init__.py").exists()} == set()


#: Library modules with no test module of their own name, and why (issue 62: "a test module per library module where
#: it has logic"). A command's declaration (its options made, one library call, its summary printed) is run by the
#: command-line tests of ``tests/cli/``; a module of fields is checked where its fields are read.
NO_OWN_TEST = {
    "vaearr/api_common.py": "the steps' shared wrapper: every step of tests/cli/test_api.py and test_typed_surface.py",
    "vaearr/api_ingest.py": "the ingest steps: tests/cli/test_api.py and test_one_declaration.py",
    **{f"vaearr/cli/{name}.py": "a command's declaration: tests/cli/ run it (test_one_declaration, test_bad_input…)"
       for name in ("analysis", "boundaries", "decompose", "demo", "encode", "export", "index", "ingest",
                    "orientations", "phases", "report", "segment", "spread", "store", "train", "weights")},
    "vaearr/crystals/options.py": "a frozen dataclass of fields: tests/cli/test_one_declaration.py",
    "vaearr/demo_options.py": "a frozen dataclass of fields: tests/cli/test_one_declaration.py",
    "vaearr/io/crystal_map.py": "a constant and a dataclass of fields",
    "vaearr/store/options.py": "two frozen dataclasses of fields: tests/cli/test_one_declaration.py",
    "vaearr/train/options.py": "a frozen dataclass of fields: tests/train/test_weights.py",
    "vaearr/version.py": "the version read from the package's metadata",
}


def _own_test(module: Path) -> bool:
    """Whether ``vaearr/<floor>/…/<name>.py`` has ``tests/<floor>/…/test_<name>.py`` (a top-level module: in any folder)."""
    rel = module.relative_to(TESTS.parent / "vaearr")
    found = TESTS.rglob(f"test_{module.stem}.py")
    if len(rel.parts) == 1:
        return any(found)
    return any(p.relative_to(TESTS).parts[0] == rel.parts[0] for p in found)


def test_every_module_with_logic_has_a_test_module_of_its_own() -> None:
    package = TESTS.parent / "vaearr"
    modules = {str(p.relative_to(TESTS.parent)): p for p in sorted(package.rglob("*.py"))
               if p.name not in ("__init__.py", "__main__.py")}
    lacking = {name for name, p in modules.items() if not _own_test(p)}
    assert lacking - set(NO_OWN_TEST) == set(), "a module with logic gets tests/<floor>/test_<module>.py"
    assert set(NO_OWN_TEST) - set(modules) == set(), "a module named in NO_OWN_TEST is gone: take it out"
    assert set(NO_OWN_TEST) & (set(modules) - lacking) == set(), "a module in NO_OWN_TEST has a test module now"
