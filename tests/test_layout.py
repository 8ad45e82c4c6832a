"""The import direction runs one way: pipeline/ may use models/, models/ never imports pipeline/."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_models_never_import_pipeline():
    pattern = re.compile(r"^\s*(from|import)\s+pipeline\b", re.MULTILINE)
    offenders = [p for p in (ROOT / "models").rglob("*.py") if pattern.search(p.read_text(encoding="utf-8"))]
    assert offenders == []
