"""The layering the project promises, checked on the code itself."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def modules(package: str) -> list[str]:
    names = []
    for path in sorted((ROOT / package).rglob("*.py")):
        relative = path.relative_to(ROOT).with_suffix("")
        if "migrations" in relative.parts or relative.name == "__main__":
            continue
        parts = relative.parts[:-1] if relative.name == "__init__" else relative.parts
        names.append(".".join(parts))
    return names


def imported_modules(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def test_core_and_storage_import_without_streamlit() -> None:
    # A fresh interpreter in which `import streamlit` fails imports every module of core/ and storage/.
    script = (
        "import importlib, sys\n"
        "class NoStreamlit:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'streamlit' or name.startswith('streamlit.'):\n"
        "            raise ImportError('streamlit is not available here')\n"
        "sys.meta_path.insert(0, NoStreamlit())\n"
        f"for name in {modules('core') + modules('storage')!r}:\n"
        "    importlib.import_module(name)\n"
        "print('imported', len(sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=300)

    assert result.returncode == 0, result.stderr[-2000:]
    assert "imported" in result.stdout


def test_mlflow_is_imported_only_behind_its_boundary() -> None:
    boundary = ROOT / "core" / "mlflow_io"
    offenders = [
        str(path.relative_to(ROOT))
        for package in ("core", "storage", "ui", "pages")
        for path in (ROOT / package).rglob("*.py")
        if boundary not in path.parents
        and any(name == "mlflow" or name.startswith("mlflow.") for name in imported_modules(path))
    ]
    offenders += [name for name in ("Home.py",) if "mlflow" in imported_modules(ROOT / name)]

    assert offenders == []


def test_only_the_pages_and_ui_import_streamlit() -> None:
    offenders = [
        str(path.relative_to(ROOT))
        for package in ("core", "storage")
        for path in (ROOT / package).rglob("*.py")
        if any(name == "streamlit" or name.startswith("streamlit.") for name in imported_modules(path))
    ]

    assert offenders == []
