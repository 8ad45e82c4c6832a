"""Layout rules: the import direction runs one way (pipeline/ may use models/, models/ never imports pipeline/),
research code stays off the product path, one name per stage across the trees, and the wheel ships the data
folders the runtime looks for."""

import ast
import re
from pathlib import Path

from pipeline.resources import DATA_DIRS

ROOT = Path(__file__).resolve().parents[1]


def test_models_never_import_pipeline():
    pattern = re.compile(r"^\s*(from|import)\s+pipeline\b", re.MULTILINE)
    offenders = [p for p in (ROOT / "models").rglob("*.py") if pattern.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_only_research_code_and_its_benches_import_the_fewshot_package():
    """models/fewshot is reached by `duihua train intent-fewshot` (its task entry names it as a string) and
    bench/fewshot.py; no stage, trainer or other model imports it."""
    pattern = re.compile(r"^\s*(from|import)\s+models\.fewshot\b", re.MULTILINE)
    offenders = [p.relative_to(ROOT) for tree in ("models", "pipeline") for p in (ROOT / tree).rglob("*.py")
                 if "fewshot" not in p.parts and pattern.search(p.read_text(encoding="utf-8"))]
    assert offenders == []


def test_stage_files_are_named_after_their_stage():
    """pipeline/stages/, pipeline/evaluate/ and conf/ groups use the stage names of pipeline/tasks (the CLI's
    aliases, `split` and `segment`, are accepted on the command line only)."""
    from pipeline.tasks import TASKS

    stages = {t.name for t in TASKS}
    helpers = {"__init__", "runtime_checks"}
    for folder in ("pipeline/stages", "pipeline/evaluate"):
        names = {p.stem for p in (ROOT / folder).glob("*.py")} - helpers
        assert all(n.split("_")[0] in stages for n in names), (folder, sorted(names))
    groups = {p.name for p in (ROOT / "conf").iterdir() if p.is_dir()}
    assert stages - {"pretrain"} <= groups


def test_the_wheel_ships_the_data_folders_the_runtime_looks_for():
    """setup.py maps these top-level folders into the wheel (pipeline/_data/); pipeline.resources names the same."""
    (shipped,) = [ast.literal_eval(node.value) for node in ast.parse((ROOT / "setup.py").read_text()).body
                  if isinstance(node, ast.Assign) and [t.id for t in node.targets] == ["DATA_DIRS"]]
    assert shipped == DATA_DIRS
    assert all((ROOT / folder).is_dir() for folder in DATA_DIRS)
    assert (ROOT / "LICENSE").is_file() and (ROOT / "NOTICE").is_file()
