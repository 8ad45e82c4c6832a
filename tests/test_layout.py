"""Layout rules: the import direction runs one way (pipeline/ may use models/, models/ never imports pipeline/),
and the wheel ships the data folders the runtime looks for."""

import ast
import re
from pathlib import Path

from pipeline.resources import DATA_DIRS

ROOT = Path(__file__).resolve().parents[1]


def test_models_never_import_pipeline():
    pattern = re.compile(r"^\s*(from|import)\s+pipeline\b", re.MULTILINE)
    offenders = [p for p in (ROOT / "models").rglob("*.py") if pattern.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_the_wheel_ships_the_data_folders_the_runtime_looks_for():
    """setup.py maps these top-level folders into the wheel (pipeline/_data/); pipeline.resources names the same."""
    (shipped,) = [ast.literal_eval(node.value) for node in ast.parse((ROOT / "setup.py").read_text()).body
                  if isinstance(node, ast.Assign) and [t.id for t in node.targets] == ["DATA_DIRS"]]
    assert shipped == DATA_DIRS
    assert all((ROOT / folder).is_dir() for folder in DATA_DIRS)
    assert (ROOT / "LICENSE").is_file() and (ROOT / "NOTICE").is_file()
