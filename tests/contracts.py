"""An import-linter contract for the one import rule ruff cannot see: private names across the project's own modules.

``lint-imports`` (configured in ``pyproject.toml``) loads :class:`PrivateImportsContract` as the
contract type ``private_imports``. It reads every module of the configured packages and breaks
when a module imports a private name or a private module of those packages from another module
(``from vaearr.x import _y``, ``from vaearr._x import y``, ``import vaearr._x``).

The other house import rules are ruff's (``[tool.ruff.lint]`` in ``pyproject.toml``): ruff's
PLC2701 skips imports within the importing module's own top-level package, which is why this one
stays here; it checks private names imported from other packages (PLC2701), private members of
another module or object (SLF001), and imports inside a function other than of an optional extra
(PLC0415 with TID253's list of the extras).
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


def _within(module: str, packages: list[str]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


class PrivateImportsContract(Contract):
    type_name = "private_imports"

    packages = fields.ListField(subfield=fields.StringField())

    def check(self, graph, verbose: bool) -> ContractCheck:
        problems: list[str] = []
        for package in self.packages:  # type: ignore[attr-defined]
            for module, path in _module_files(package).items():
                problems += self._check_module(module, path)
        return ContractCheck(kept=not problems, metadata={"problems": problems})

    def _check_module(self, module: str, path: Path) -> list[str]:
        tree = ast.parse(path.read_text(), filename=str(path))
        where = f"{module} ({path.name}"
        out: list[str] = []
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                sources = [a.name for a in node.names]
                names: list[str] = []
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                sources, names = [node.module], [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            for source in sources:
                if _within(source, self.packages) and any(_private(p) for p in source.split(".")):  # type: ignore[arg-type]
                    out.append(f"{where}:{node.lineno}) imports the private module {source}")
            for name in names:
                if _within(name, self.packages) and _private(name.rsplit(".", 1)[1]):  # type: ignore[arg-type]
                    out.append(f"{where}:{node.lineno}) imports the private name {name}")
        return out

    def render_broken_contract(self, check: ContractCheck) -> None:
        for problem in check.metadata["problems"]:
            output.print_error(problem, bold=False)
            output.new_line()
