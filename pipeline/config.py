"""Compose Hydra configs from the project's ``conf/`` tree, turning Hydra's errors into one readable line.

The data root (the folder holding ``conf/``, ``lexicons/``, ``checkpoints/``, ``demo/``) is ``DUIHUA_ROOT`` when
set, else the package data of an installed wheel, else the checkout above ``pipeline/`` (``pipeline.resources``).
``${duihua_root:}`` exposes it to configs; ``${stage_precision:NAME}`` gives a neural stage its precision.
"""

from __future__ import annotations

from collections.abc import Sequence

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from pipeline.errors import ConfigError, first_message
from pipeline.resources import data_root

ROOT = data_root()
CONF_DIR = ROOT / "conf"


def stage_precision(stage: str, *, _root_: DictConfig) -> str:
    """``runtime.precision`` for every neural stage, so one override changes them all; only ``auto`` means
    something per stage: ``runtime.auto_precision.<stage>`` where the runtime group names an exception (a
    stage that bf16 autocast hurts on CPU), else ``auto``."""
    runtime = _root_.get("runtime") or {}
    precision = str(runtime.get("precision", "auto"))
    if precision != "auto":
        return precision
    return str((runtime.get("auto_precision") or {}).get(stage, "auto"))


if not OmegaConf.has_resolver("duihua_root"):
    OmegaConf.register_new_resolver("duihua_root", lambda: str(ROOT))
if not OmegaConf.has_resolver("stage_precision"):
    OmegaConf.register_new_resolver("stage_precision", stage_precision)


def _options_hint(exc: BaseException) -> str:
    """Hydra lists a group's options on later lines; keep them, on the same line."""
    text = str(exc)
    if "Available options" not in text:
        return ""
    options = []
    for line in text.split("Available options", 1)[1].splitlines()[1:]:
        if not line[:1].isspace() or not line.strip():
            break  # options are indented; the config search path follows them
        options.append(line.strip())
    return f" (available: {', '.join(options)})" if options else ""


def load_config(config_name: str = "pipeline", overrides: Sequence[str] = ()) -> DictConfig:
    """Compose ``conf/<config_name>.yaml`` with ``overrides`` and resolve every interpolation."""
    if not (CONF_DIR / f"{config_name}.yaml").is_file():
        hint = "" if CONF_DIR.is_dir() else " (set DUIHUA_ROOT to a folder holding conf/)"
        raise ConfigError(f"config not found: {CONF_DIR / config_name}.yaml{hint}")
    try:
        with initialize_config_dir(config_dir=str(CONF_DIR), version_base=None):
            cfg = compose(config_name=config_name, overrides=list(overrides))
        OmegaConf.resolve(cfg)
        missing = sorted(OmegaConf.missing_keys(cfg))
    except (HydraException, OmegaConfBaseException, ValueError) as exc:
        raise ConfigError(f"bad config or override ({' '.join(overrides) or 'no overrides'}): "
                          f"{first_message(exc)}{_options_hint(exc)}") from exc
    if missing:
        raise ConfigError(f"required config value missing: {', '.join(missing)} (set it, e.g. {missing[0]}=...)")
    return cfg
