"""Compose Hydra configs from the project's ``conf/`` tree, turning Hydra's errors into one readable line.

The project root is found from this file (``pipeline/`` sits at the top of the checkout, and the package is
installed in editable mode), or from ``DUIHUA_ROOT`` when set. ``${duihua_root:}`` exposes it to configs.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.errors import HydraException
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from pipeline.errors import ConfigError, first_message

ROOT = Path(os.environ.get("DUIHUA_ROOT", Path(__file__).resolve().parents[1]))
CONF_DIR = ROOT / "conf"

if not OmegaConf.has_resolver("duihua_root"):
    OmegaConf.register_new_resolver("duihua_root", lambda: str(ROOT))


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
        raise ConfigError(f"config not found: {CONF_DIR / config_name}.yaml")
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
