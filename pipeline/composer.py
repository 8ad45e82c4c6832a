"""Build a pipeline from a composed config: instantiate each stage in ``cfg.stages`` order and check that
every field a stage reads is written by an earlier one, before any text is processed.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from pipeline.errors import ConfigError, DuihuaError, first_message
from pipeline.protocol import Stage

log = logging.getLogger(__name__)
STAGE_GROUPS = ("splitter", "segmenter", "slots", "intent", "reply")


def _is_disabled(node: object) -> bool:
    return node is None or (isinstance(node, Mapping | DictConfig) and len(node) == 0)


def build_stage(name: str, node: DictConfig) -> Stage:
    """Instantiate one stage node; failures name the stage and its ``_target_``."""
    target = node.get("_target_") if isinstance(node, DictConfig) else None
    if not target:
        raise ConfigError(f"{name}: config has no _target_ (got keys {sorted(node)})")
    try:
        stage = instantiate(node)
    except InstantiationException as exc:
        cause = exc.__cause__
        if isinstance(cause, DuihuaError):
            raise type(cause)(f"{name}: {cause}") from cause
        raise ConfigError(f"{name}: cannot build {target}: {first_message(exc)}") from exc
    if not isinstance(stage, Stage):
        raise ConfigError(f"{name}: {target} is not a stage (needs reads, writes and process(docs))")
    log.info("built stage %s <%s>", name, target)
    return stage


def check_order(stages: list[tuple[str, Stage]]) -> None:
    """spaCy-style analysis: a stage may only read fields set by the query or an earlier stage."""
    available = {"query"}
    for name, stage in stages:
        missing = sorted(stage.reads - available)
        if missing:
            writers = ", ".join(n for n, _ in stages) or "none"
            raise ConfigError(f"{name} reads {missing} but no stage before it writes them (enabled stages: {writers})")
        available |= set(stage.writes)


def build_stages(cfg: DictConfig) -> list[tuple[str, Stage]]:
    order = list(cfg.get("stages") or [])
    unknown = [s for s in order if s not in cfg]
    if unknown:
        raise ConfigError(f"stages lists {unknown}, which have no config group")
    stages = [(name, build_stage(name, cfg[name])) for name in order if not _is_disabled(cfg[name])]
    check_order(stages)
    return stages


def describe(cfg: DictConfig) -> dict[str, str]:
    """Stage name -> target (or ``none``), for logs and ``duihua run --explain``."""
    out = {}
    for name in cfg.get("stages") or []:
        node = cfg.get(name)
        out[name] = "none" if _is_disabled(node) else str(OmegaConf.select(node, "_target_"))
    return out
