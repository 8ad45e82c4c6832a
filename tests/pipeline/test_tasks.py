"""The stage table (pipeline/tasks/): every entry points at code and config that exist, and the CLI's names
and messages come from it."""

from pathlib import Path

import pytest

from pipeline.cli import main
from pipeline.errors import InputError
from pipeline.tasks import TASKS, TRAIN_COMMANDS, evaluator, find_task, load_function, names_with, trainer

CONF = Path(__file__).resolve().parents[2] / "conf"


@pytest.mark.parametrize("command", TRAIN_COMMANDS)
def test_every_train_command_has_its_config_and_function(command):
    assert (CONF / "train" / f"{command}.yaml").is_file()
    assert callable(trainer(command))


@pytest.mark.parametrize("task", [t for t in TASKS if t.evaluator], ids=lambda t: t.name)
def test_every_evaluator_resolves_and_its_stage_takes_a_checkpoint(task):
    assert callable(load_function(task.evaluator))
    overrides = task.checkpoint_overrides("/ckpt")
    assert any(o.endswith("=/ckpt") for o in overrides)
    assert all((CONF / o.split("=")[0]).is_dir() for o in overrides if "." not in o.split("=")[0])  # groups exist


def test_names_and_aliases():
    assert find_task("split") is find_task("splitter") and find_task("segment").name == "segmenter"
    assert find_task("splitter-distill") is None            # a train command, not a stage
    assert "request-scorer" in TRAIN_COMMANDS and TRAIN_COMMANDS[0] == "pretrain"
    assert names_with("exporter") == ["splitter", "segmenter", "slots", "intent", "reply"]


def test_stages_without_a_scorer_say_which_have_one():
    with pytest.raises(InputError, match=r"the pretrain stage has no eval command \(available: intent, reply, "
                                         r"segmenter, slots, splitter\)"):
        evaluator("pretrain")
    with pytest.raises(InputError, match="unknown stage 'bogus'; stages: pretrain, splitter, splitter-distill"):
        trainer("bogus")


def test_eval_of_a_train_only_command_is_one_line(tmp_path, capsys):
    data = tmp_path / "x.jsonl"
    data.write_text("{}\n", encoding="utf-8")
    assert main(["eval", "splitter-distill", "--data", str(data)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "the splitter-distill stage has no eval command" in err
