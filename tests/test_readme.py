"""The README's quickstart is what CI runs; keep them from drifting apart."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    quickstart = text.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", quickstart)


def test_quickstart_has_exactly_two_commands_and_ci_runs_the_test_one():
    install_and_demo, install_and_test = readme_commands()
    assert install_and_demo.endswith('duihua run "明天北京天气怎么样我想听周杰伦的稻香顺便把空调调到二十六度"')
    ci = (ROOT / ".ci/run").read_text(encoding="utf-8").strip().splitlines()[-1]
    assert ci == install_and_test
    assert "torch==2.13.0" in install_and_demo and "torch==2.13.0" in install_and_test
