"""An import-linter contract for what its built-in ones cannot see: private names and in-function imports.

``lint-imports`` (configured in ``pyproject.toml``) loads :class:`ImportHygieneContract` as the
contract type ``import_hygiene``. It reads every module of the configured packages and breaks
when

* a module imports another module's private name (``from vaearr.x import _y``, or ``x._y``
  on a module it imported), or a private module or name of another package that is not
  listed in ``allowed_private`` (each of those is pinned in ``pyproject.toml`` and tested);
* an import inside a function is not of an optional extra (``optional``): everything else is
  imported at the top of its module, so the imports a module makes are the ones at its top.
  The exceptions are named in ``lazy_modules`` (the command-line modules, which import the
  library when a command runs so that ``vaearr --help`` starts in a second) and PEP 562
  ``__getattr__`` functions of packages (lazy re-exports).
"""

from __future__ import annotations

import ast
import importlib.util
from pathlib import Path

from importlinter import Contract, ContractCheck, fields, output


def _module_files(package: str) -> dict[str, Path]:
    spec = importlib.util.find_spec(package)
    if spec is None or spec.origin is None:
        return {}
    root = Path(spec.origin).parent
    files = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        files[name] = path
    return files


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _matches(module: str, prefixes: list[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


class ImportHygieneContract(Contract):
    type_name = "import_hygiene"

    packages = fields.ListField(subfield=fields.StringField())
    optional = fields.ListField(subfield=fields.StringField())
    lazy_modules = fields.ListField(subfield=fields.StringField(), required=False, default=[])
    allowed_private = fields.ListField(subfield=fields.StringField(), required=False, default=[])

    def check(self, graph, verbose: bool) -> ContractCheck:
        problems: list[str] = []
        for package in self.packages:  # type: ignore[attr-defined]
            for module, path in _module_files(package).items():
                problems += self._check_module(module, path)
        return ContractCheck(kept=not problems, metadata={"problems": problems})

    def _check_module(self, module: str, path: Path) -> list[str]:
        tree = ast.parse(path.read_text(), filename=str(path))
        parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
        where = f"{module} ({path.name}"
        out: list[str] = []
        imported_modules: set[str] = set()  # local names bound to modules
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for a in node.names:
                    imported_modules.add((a.asname or a.name).split(".")[0])
                    out += self._private_module(a.name, f"{where}:{node.lineno})")
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                out += self._private_module(node.module, f"{where}:{node.lineno})")
                for a in node.names:
                    if _private(a.name) and not _matches(f"{node.module}.{a.name}", self.allowed_private):  # type: ignore[arg-type]
                        out.append(f"{where}:{node.lineno}) imports the private name {node.module}.{a.name}")
                    if importlib.util.find_spec(node.module) is not None and self._is_module(f"{node.module}.{a.name}"):
                        imported_modules.add(a.asname or a.name)
            if isinstance(node, ast.Import | ast.ImportFrom) and self._in_function(node, parents):
                out += self._in_function_import(node, module, parents, f"{where}:{node.lineno})")
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in imported_modules and _private(node.attr)):
                out.append(f"{where}:{node.lineno}) uses the private name {node.value.id}.{node.attr}")
        return out

    @staticmethod
    def _is_module(name: str) -> bool:
        try:
            return importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):
            return False

    def _private_module(self, name: str, where: str) -> list[str]:
        if any(_private(part) for part in name.split(".")) and not _matches(name, self.allowed_private):  # type: ignore[arg-type]
            return [f"{where} imports the private module {name}"]
        return []

    @staticmethod
    def _in_function(node: ast.AST, parents: dict) -> bool:
        p = parents.get(node)
        while p is not None:
            if isinstance(p, ast.FunctionDef | ast.AsyncFunctionDef):
                return True
            if isinstance(p, ast.If) and "TYPE_CHECKING" in ast.unparse(p.test):
                return False
            p = parents.get(p)
        return False

    def _in_function_import(self, node: ast.AST, module: str, parents: dict, where: str) -> list[str]:
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
        if all(_matches(n, self.optional) for n in names):  # type: ignore[arg-type]
            return []
        if _matches(module, self.lazy_modules):  # type: ignore[arg-type]
            return []
        func = parents.get(node)
        while func is not None and not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            func = parents.get(func)
        if func is not None and func.name == "__getattr__" and isinstance(parents.get(func), ast.Module):
            return []
        return [f"{where} imports {', '.join(names)} inside a function (only optional extras may be)"]

    def render_broken_contract(self, check: ContractCheck) -> None:
        for problem in check.metadata["problems"]:
            output.print_error(problem, bold=False)
            output.new_line()
