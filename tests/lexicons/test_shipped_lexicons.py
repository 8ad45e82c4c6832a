"""Every shipped lexicon parses, is selectable by config, and carries no blank, duplicate or 1-char entries."""

from pathlib import Path

import pytest

from models.lexicon.manifest import load_domain
from pipeline.config import CONF_DIR, ROOT, load_config

LEXICONS = ROOT / "lexicons"
DOMAINS = sorted(p.name for p in LEXICONS.iterdir() if (p / "lexicon.yaml").is_file())


def test_required_domains_are_shipped():
    assert {"music", "location", "travel", "food", "app"} <= set(DOMAINS)
    assert len(DOMAINS) >= 8


@pytest.mark.parametrize("name", DOMAINS)
def test_domain_loads_and_is_clean(name):
    dom = load_domain(LEXICONS / name, name)
    assert dom.count() > 0
    for slot in dom.manifest.slots:
        for fname in slot.files:
            lines = (LEXICONS / name / fname).read_text(encoding="utf-8").splitlines()
            assert all(line.strip() for line in lines), f"{name}/{fname}: blank line"
            assert len(lines) == len(set(lines)), f"{name}/{fname}: duplicate lines"
            surfaces = [line.split("\t")[0] for line in lines]
            assert min(map(len, surfaces)) >= 2, f"{name}/{fname}: single-character entry"


@pytest.mark.parametrize("name", DOMAINS)
def test_domain_has_a_config_option_and_is_selected_by_default(name):
    assert (CONF_DIR / "lexicons" / f"{name}.yaml").is_file()
    cfg = load_config()
    assert Path(cfg.lexicons.domains[name]) == LEXICONS / name
