"""Shared fixtures: a private automaton cache, copies of the mini lexicons, and pipelines built on them."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
DEMO = "明天北京天气怎么样我想听周杰伦的稻香"


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Never touch the user's ~/.cache during tests."""
    mp = pytest.MonkeyPatch()
    mp.setenv("DUIHUA_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
    yield
    mp.undo()


@pytest.fixture
def mini_lexicons(tmp_path: Path) -> dict[str, Path]:
    """Writable copies of tests/data/lexicons/{minimusic,miniloc}."""
    out = {}
    for name in ("minimusic", "miniloc"):
        out[name] = tmp_path / name
        shutil.copytree(DATA / "lexicons" / name, out[name])
    return out


def mini_overrides(dirs: dict[str, Path], *extra: str) -> list[str]:
    return ["lexicons=[]", f"lexicons.extra_dirs=[{','.join(str(p) for p in dirs.values())}]", *extra]


@pytest.fixture
def mini_pipe(mini_lexicons: dict[str, Path]):
    from pipeline import Pipeline

    return Pipeline.from_config(overrides=mini_overrides(mini_lexicons))
