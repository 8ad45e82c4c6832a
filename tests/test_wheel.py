"""The wheel is self-contained: built from a copy of the checkout, installed into a fresh virtualenv, ``duihua run``
works from an unrelated folder with no DUIHUA_ROOT (conf/, lexicons/, checkpoints/, demo/ travel inside it as
package data, pipeline/_data/). An editable install still reads the checkout's own top-level folders. Those three
are slow (about 30-45 s on 2 shared cores: build, install, a first run with its ONNX export); the last, fast, test
checks the order DUIHUA_ROOT > package data > checkout.

The new virtualenvs see the packages of the one running the tests (torch & co. are not installed again) through a
.pth line, which appends that site-packages after their own: the wheel's ``pipeline`` comes first, and the outer
editable finder is never installed (a .pth line adds a folder; the .pth files inside it are not run)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
QUERY = "我想听周杰伦的稻香"
NOT_SOURCES = {".git", "outputs", "multirun", "build", "dist", ".cache", ".pytest_cache", ".ruff_cache"}


def _copy_sources(dest: Path) -> Path:
    """The checkout without VCS data, virtualenvs and build outputs: the build writes build/ and *.egg-info into
    the copy, never into the checkout others work in."""

    def ignore(folder: str, names: list[str]) -> set[str]:
        top = Path(folder).resolve() == ROOT
        return {n for n in names if n == "__pycache__" or n.endswith(".egg-info")
                or (top and (n in NOT_SOURCES or n.startswith(".venv")))}

    shutil.copytree(ROOT, dest, ignore=ignore)
    return dest


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DUIHUA_ROOT", "PYTHONPATH", "PYTHONHOME")}
    return env | {"PIP_DISABLE_PIP_VERSION_CHECK": "1", "PIP_NO_INDEX": "1", "PYTHONNOUSERSITE": "1"}


def _run(cmd: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=timeout)
    command = " ".join(map(str, cmd))
    assert proc.returncode == 0, f"{command} -> {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def _venv(path: Path) -> tuple[Path, Path]:
    """A fresh virtualenv that also sees this interpreter's packages; (its python, its site-packages). Without a pip
    of its own: ensurepip's would bring an old setuptools that shadows the build backend of this environment."""
    _run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(path)], cwd=path.parent)
    python = path / "bin" / "python"
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     cwd=path).stdout.strip())
    outer = dict.fromkeys(sysconfig.get_paths()[k] for k in ("purelib", "platlib"))
    (site / "_outer_site_packages.pth").write_text("".join(f"{p}\n" for p in outer), encoding="utf-8")
    return python, site


def _where(python: Path, cwd: Path) -> dict[str, str]:
    code = ("import json, models, pipeline; from pipeline.config import CONF_DIR, ROOT;"
            "print(json.dumps({'pipeline': pipeline.__file__, 'models': models.__file__, 'root': str(ROOT),"
            "'conf': str(CONF_DIR)}))")
    return json.loads(_run([str(python), "-c", code], cwd=cwd).stdout)


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _copy_sources(tmp_path_factory.mktemp("wheel") / "src")


@pytest.fixture(scope="module")
def wheel(sources: Path) -> Path:
    out = sources.parent / "dist"
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-w", str(out), "."],
         cwd=sources)
    (built,) = out.glob("duihua-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path) -> tuple[Path, Path]:
    python, site = _venv(wheel.parent.parent / "venv")
    _run([str(python), "-m", "pip", "install", "--no-deps", str(wheel)], cwd=wheel.parent)
    return python, site


@pytest.mark.slow
def test_wheel_holds_the_licence_configs_lexicons_checkpoints_and_demo(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    licences = {n.rsplit("/", 1)[-1] for n in names if n.startswith("duihua-") and ".dist-info/" in n}
    assert {"LICENSE", "NOTICE"} <= licences   # dist-info/licenses/ from setuptools 77 on, dist-info/ before
    data = "pipeline/_data/"
    assert {f"{data}conf/pipeline.yaml", f"{data}conf/paths/default.yaml", f"{data}lexicons/music/lexicon.yaml",
            f"{data}checkpoints/intent/model.safetensors", f"{data}checkpoints/slots/model.safetensors",
            f"{data}demo/index.html", "pipeline/resources.py", "models/common/onnx.py"} <= names
    for folder in ("conf", "lexicons", "checkpoints", "demo"):   # every shipped file, no more
        shipped = {p.relative_to(ROOT).as_posix() for p in (ROOT / folder).rglob("*")
                   if p.is_file() and not p.name.startswith(".") and "__pycache__" not in p.parts}
        assert {n.removeprefix(data) for n in names if n.startswith(f"{data}{folder}/")} == shipped
    assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".gitkeep"))]


@pytest.mark.slow
def test_installed_wheel_runs_from_any_folder_without_duihua_root(installed, tmp_path):
    python, site = installed
    where = _where(python, tmp_path)
    assert Path(where["pipeline"]).is_relative_to(site) and Path(where["models"]).is_relative_to(site)
    assert Path(where["root"]).resolve() == (site / "pipeline" / "_data").resolve()
    package_data = sorted(p for p in (site / "pipeline" / "_data").rglob("*"))

    proc = _run([str(python.parent / "duihua"), "run", "--compact", QUERY], cwd=tmp_path)
    result = json.loads(proc.stdout)
    (sentence,) = result["sentences"]
    assert sentence["text"] == QUERY
    assert sentence["intent"]["label"] == "music/PLAY"
    slots = {(m["surface"], m["domain"], m["entity"]) for m in sentence["slots"]}
    assert {("周杰伦", "music", "singer"), ("稻香", "music", "song")} <= slots
    assert result["reply"]["text"] == "好的，为您播放周杰伦的稻香"
    # run-time files (ONNX exports, gazetteer automata) go to paths.cache, never into the installed package
    assert sorted(p for p in (site / "pipeline" / "_data").rglob("*")) == package_data


@pytest.mark.slow
def test_editable_install_reads_the_checkouts_own_folders(sources):
    python, site = _venv(sources.parent / "venv-editable")
    _run([str(python), "-m", "pip", "install", "--no-deps", "--no-build-isolation", "-e", str(sources)],
         cwd=sources.parent)
    where = _where(python, sources.parent)
    assert Path(where["pipeline"]) == sources / "pipeline" / "__init__.py"
    assert (where["root"], where["conf"]) == (str(sources), str(sources / "conf"))
    assert not (sources / "pipeline" / "_data").exists()


def test_duihua_root_overrides_the_data_root_and_a_checkout_reads_its_own(monkeypatch, tmp_path):
    from pipeline import resources

    monkeypatch.setenv("DUIHUA_ROOT", str(tmp_path))
    assert resources.data_root() == tmp_path and resources.data_path("demo") == tmp_path / "demo"
    monkeypatch.delenv("DUIHUA_ROOT")
    assert resources.packaged_root() is None   # tests run from the checkout (an editable install)
    assert resources.data_root() == ROOT
