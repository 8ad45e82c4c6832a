"""Build a pipeline from a composed config: instantiate each stage in ``cfg.stages`` order and check that
every field a stage reads is written by an earlier one, before any text is processed.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Mapping
from pathlib import Path

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from pipeline.errors import ConfigError, DuihuaError, first_message
from pipeline.protocol import Stage

log = logging.getLogger(__name__)


def _is_disabled(node: object) -> bool:
    return node is None or (isinstance(node, Mapping | DictConfig) and len(node) == 0)


def build_stage(name: str, node: DictConfig) -> Stage:
    """Instantiate one stage node; failures name the stage and its ``_target_``."""
    target = node.get("_target_") if isinstance(node, DictConfig) else None
    if not target:
        raise ConfigError(f"{name}: config has no _target_ (got keys {sorted(node)})")
    check_device(name, node)
    try:
        stage = instantiate(node)
    except InstantiationException as exc:
        raise build_error(name, node, exc) from exc
    if not isinstance(stage, Stage):
        raise ConfigError(f"{name}: {target} is not a stage (needs reads, writes and process(docs))")
    log.info("built stage %s <%s>", name, target)
    return stage


def check_device(name: str, node: DictConfig) -> None:
    """A CUDA device that torch cannot see, refused before loading: torch's own error ("Torch not compiled
    with CUDA enabled", an AssertionError deep in the model move) does not say which setting to change."""
    device = str(node.get("device") or "cpu")
    if not device.startswith("cuda"):
        return
    import torch

    index = torch.device(device).index or 0
    if not torch.cuda.is_available() or index >= torch.cuda.device_count():
        raise ConfigError(f"{name}: runtime.device={device}, but torch sees no such CUDA device "
                          f"({torch.cuda.device_count()} visible); use runtime.device=cpu")


def build_error(name: str, node: DictConfig, exc: InstantiationException) -> DuihuaError:
    """The one-line error for a stage that did not build.

    Hydra wraps what the stage raised in ``InstantiationException`` ("Error in call to target ...:"), so the
    message is taken from the root cause, with the stage and the setting it concerns: a stage's own
    ``DuihuaError`` keeps its type; an ``OSError`` on a file under a cache folder is ``paths.cache``'s, under
    the checkpoint the checkpoint's; anything else (a truncated weights file, a bad JSON file) names the
    checkpoint the stage was building from.
    """
    cause, key = root_cause(exc, name)
    sub = node if key == name else OmegaConf.select(node, key.removeprefix(f"{name}."), default=node)
    if isinstance(cause, DuihuaError):
        text = str(cause)
        return type(cause)(text if text.startswith((f"{name}.", f"{name}:")) else f"{name}: {text}")
    blame = _path_problem(cause, sub, key) if isinstance(cause, OSError) else None
    if blame:
        return ConfigError(f"{name}: {blame}")
    target = OmegaConf.select(sub, "_target_") if isinstance(sub, DictConfig) else None
    checkpoint = OmegaConf.select(sub, "checkpoint") if isinstance(sub, DictConfig) else None
    source = f" ({key}.checkpoint={checkpoint})" if checkpoint else ""
    message = first_message(cause)
    return ConfigError(f"{name}: cannot build {target or node.get('_target_')}{source}: "
                       f"{type(cause).__name__}: {message}")


def root_cause(exc: BaseException, name: str) -> tuple[BaseException, str]:
    """The exception under Hydra's wrappers, and the config key of the innermost node that raised it
    (``reply.chat`` for a nested node; Hydra writes it as ``full_key: ...`` in its message)."""
    key, seen = name, exc
    while isinstance(seen, InstantiationException) and seen.__cause__ is not None:
        match = re.search(r"^full_key: (\S+)$", str(seen), re.MULTILINE)
        key = match.group(1) if match else key
        seen = seen.__cause__
    return seen, key


def _path_problem(exc: OSError, node: DictConfig, key: str) -> str | None:
    """An ``OSError`` on a file under a cache folder (every ``*cache_dir`` of a stage is an interpolation of
    ``paths.cache``) or under a checkpoint, as the setting to change; None for any other file."""
    if exc.filename is None or not isinstance(node, DictConfig):
        return None
    path, reason = _absolute(exc.filename), exc.strerror or str(exc)
    for field, value in node.items():
        if not isinstance(value, str) or not value or not _inside(path, value):
            continue
        if str(field).endswith("cache_dir"):
            return (f"paths.cache: cannot write {exc.filename} ({reason}); set paths.cache=DIR or DUIHUA_CACHE_DIR "
                    "to a writable folder")
        if str(field).endswith("checkpoint"):
            return f"{key}.{field}: cannot read {exc.filename} ({reason})"
    return None


def _absolute(path: str | os.PathLike) -> Path:
    return Path(os.path.abspath(Path(os.fsdecode(path)).expanduser()))


def _inside(path: Path, folder: str) -> bool:
    return path.is_relative_to(_absolute(folder))


def check_order(stages: list[tuple[str, Stage]]) -> None:
    """spaCy-style analysis: a stage may only read fields set by the query or an earlier stage."""
    available = {"query"}
    for name, stage in stages:
        missing = sorted(stage.reads - available)
        if missing:
            writers = ", ".join(n for n, _ in stages) or "none"
            raise ConfigError(f"{name} reads {missing} but no stage before it writes them (enabled stages: {writers})")
        available |= set(stage.writes)


def build_stages(cfg: DictConfig, build_ms: dict[str, float] | None = None) -> list[tuple[str, Stage]]:
    """The enabled stages in ``cfg.stages`` order; ``build_ms`` (when given) receives each one's build time."""
    order = list(cfg.get("stages") or [])
    unknown = [s for s in order if s not in cfg]
    if unknown:
        raise ConfigError(f"stages lists {unknown}, which have no config group")
    stages = []
    for name in (n for n in order if not _is_disabled(cfg[n])):
        t0 = time.perf_counter()
        stages.append((name, build_stage(name, cfg[name])))
        if build_ms is not None:
            build_ms[name] = (time.perf_counter() - t0) * 1000
    check_order(stages)
    return stages
