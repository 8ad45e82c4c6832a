"""``duihua run --input --engine ray``: the same output as one process, line for line; bad lines to ``--errors``
with the job going on; a worker killed mid-job loses no line; and one-line refusals, with Ray or without it."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest

from pipeline.cli import main
from tests.conftest import mini_overrides

FAST = ("segmenter=none", "intent=none", "reply=none")  # splitting and the gazetteer: enough to see alignment
LINES = ["我想听周董的稻香", "", "北京南站", "播放稻香然后导航到北京南站", "周杰伦"]


def run_cli(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(("argv", "message"), [
    (["--errors", "e.jsonl"], "--errors applies to --engine ray"),
    (["--workers", "2"], "--workers applies to --engine ray"),
    (["--engine", "ray", "--workers", "0"], "--workers must be at least 1"),
])
def test_engine_options_are_refused_in_one_line(capsys, tmp_path, argv, message):
    src = tmp_path / "in.txt"
    src.write_text("北京\n", encoding="utf-8")
    code, _, err = run_cli(capsys, "run", "--input", str(src), *argv)
    assert code == 2 and message in err and err.count("\n") == 1


def test_without_ray_the_engine_says_how_to_install_it(capsys, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` now raises ImportError
    src = tmp_path / "in.txt"
    src.write_text("北京\n", encoding="utf-8")
    code, _, err = run_cli(capsys, "run", "--input", str(src), "--engine", "ray")
    assert code == 2 and "pip install 'duihua[ray]'" in err and err.count("\n") == 1


@pytest.fixture(scope="module")
def ray_cluster():
    """One local Ray cluster for this module's jobs (starting one takes seconds); ``run_job`` uses it as is."""
    ray = pytest.importorskip("ray")
    ray.init(num_cpus=2, include_dashboard=False, logging_level="ERROR", log_to_driver=False,
             configure_logging=False)
    yield ray
    ray.shutdown()


def untimed(path: Path) -> list:
    """Each output line parsed, without its stage timings (the only part two runs may differ in)."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [row and {k: v for k, v in row.items() if k != "timings_ms"} for row in rows]


def local_output(capsys, src: Path, overrides: list[str], tmp_path: Path) -> list:
    dst = tmp_path / "local.jsonl"
    assert run_cli(capsys, "run", "--input", str(src), "--output", str(dst), *overrides)[0] == 0
    return untimed(dst)


def test_ray_output_is_the_local_output_and_bad_lines_go_to_the_errors_file(capsys, ray_cluster, mini_lexicons,
                                                                           tmp_path):
    overrides = mini_overrides(mini_lexicons, *FAST, "runtime.max_chars=20")
    lines = LINES * 3
    lines[7] = "很长" * 11                                   # over runtime.max_chars: a bad line
    src = tmp_path / "in.txt"
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    good = tmp_path / "good.txt"
    good.write_text("\n".join(x for i, x in enumerate(lines) if i != 7) + "\n", encoding="utf-8")
    expected = local_output(capsys, good, overrides, tmp_path)

    dst, errors = tmp_path / "ray.jsonl", tmp_path / "errors.jsonl"
    code, _, err = run_cli(capsys, "run", "--input", str(src), "--output", str(dst), "--errors", str(errors),
                           "--engine", "ray", "--workers", "2", *overrides)
    assert code == 0 and f"wrote {len(lines)} results" in err and "1 bad lines" in err
    got = untimed(dst)
    assert got[7] is None and got[:7] + got[8:] == expected
    (record,) = [json.loads(x) for x in errors.read_text(encoding="utf-8").splitlines()]
    assert record["line"] == 8 and "runtime.max_chars=20" in record["error"]

    code, _, err = run_cli(capsys, "run", "--input", str(src), "--output", str(dst), "--engine", "ray", *overrides)
    assert code == 2 and f"{src}:8:" in err and err.count("\n") == 1   # without --errors: checked first


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="finds the worker processes through /proc")
def test_a_worker_killed_mid_job_loses_no_line(capsys, ray_cluster, mini_lexicons, tmp_path):
    from pipeline.batch_ray import RayJob, local_worker_pids, run_job

    overrides = mini_overrides(mini_lexicons, *FAST)
    src = tmp_path / "in.txt"
    src.write_text("\n".join(LINES * 400) + "\n", encoding="utf-8")
    expected = local_output(capsys, src, overrides, tmp_path)
    dst = tmp_path / "ray.jsonl"
    job = RayJob(input=src, output=dst, errors=None, overrides=overrides, workers=2, block_lines=4)
    summary: dict = {}
    runner = threading.Thread(target=lambda: summary.update(run_job(job)))
    runner.start()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (dst.exists() and dst.stat().st_size):
        time.sleep(0.05)                                      # the job is under way
    killed = local_worker_pids()[:1]
    assert killed, "no Ray worker process found"
    os.kill(killed[0], signal.SIGKILL)
    runner.join(timeout=300)
    assert summary["lines"] == len(expected) and killed[0] in summary["pids"]
    assert summary["restarted"], "the killed worker was not restarted: the job ended before the kill"
    assert untimed(dst) == expected


def test_a_config_error_in_the_workers_is_one_line(capsys, ray_cluster, mini_lexicons, tmp_path):
    src = tmp_path / "in.txt"
    src.write_text("北京\n", encoding="utf-8")
    code, _, err = run_cli(capsys, "run", "--input", str(src), "--engine", "ray",
                           *mini_overrides(mini_lexicons, "intent=none", "reply=none"),
                           f"segmenter.checkpoint={tmp_path / 'nope'}")
    assert code == 2 and "segmenter.checkpoint: no segmenter checkpoint" in err and "Traceback" not in err
