"""What each stage is, in one table: its train commands, its ``duihua eval`` scorer, the overrides that point
it at a checkpoint, and its ONNX export (load, parity outputs, dev metric).

The CLI and ``duihua export`` read only this table, so a new stage is a model package, a conf group and one
task file here (``TASKS`` lists it). Task files import nothing heavy at module level: the CLI loads the table
on every call, and ``duihua run`` must stay free of torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipeline.errors import InputError


@dataclass(frozen=True)
class Exporter:
    """``duihua export <stage>``: how to load a checkpoint per backend, what the backends must agree on for the
    given probe queries, and the stage's dev metric (``(name, value)``; value None where the dev data is not
    there)."""
    load: Callable[[Path, str, str], Any]
    raw_outputs: Callable[[Any, Sequence[str]], list]
    dev_metric: Callable[[Any, Mapping[str, Any]], tuple[str, float | None]]


@dataclass(frozen=True)
class StageTask:
    name: str
    trainers: Mapping[str, str]                 # `duihua train <command>` -> "module:function"
    evaluator: str | None = None                # `duihua eval <name>` -> "module:function"
    checkpoint_overrides: Callable[[str], list[str]] | None = None   # `--checkpoint DIR` -> overrides
    exporter: Exporter | None = None
    aliases: tuple[str, ...] = ()   # other names for the stage (the verbs the issues use)


def _tasks() -> tuple[StageTask, ...]:
    from pipeline.tasks import intent, pretrain, reply, segmenter, slots, splitter

    return pretrain.TASK, splitter.TASK, segmenter.TASK, slots.TASK, intent.TASK, reply.TASK


TASKS: tuple[StageTask, ...] = _tasks()
TRAIN_COMMANDS: tuple[str, ...] = tuple(cmd for t in TASKS for cmd in t.trainers)


def stage_name(name: str) -> str:
    """``name`` with aliases resolved (``split`` -> ``splitter``); unknown names come back unchanged."""
    return next((t.name for t in TASKS if name in t.aliases), name)


def find_task(name: str) -> StageTask | None:
    name = stage_name(name)
    return next((t for t in TASKS if t.name == name), None)


def load_function(ref: str) -> Callable[..., Any]:
    module, func = ref.split(":")
    return getattr(importlib.import_module(module), func)


def _unknown(name: str) -> InputError:
    return InputError(f"unknown stage {name!r}; stages: {', '.join(TRAIN_COMMANDS)}")


def trainer(command: str) -> Callable[..., Any]:
    """The training function of ``duihua train <command>`` (a stage name, an alias or a further command of a
    stage, e.g. ``splitter-distill``)."""
    command = stage_name(command)
    for t in TASKS:
        if command in t.trainers:
            return load_function(t.trainers[command])
    raise _unknown(command)


def evaluator(name: str) -> Callable[..., int]:
    """The scorer of ``duihua eval <name>``; a train command that is no stage (``splitter-distill``) has none."""
    name = stage_name(name)
    if name not in TRAIN_COMMANDS:
        raise _unknown(name)
    task = find_task(name)
    if task is None or task.evaluator is None:
        ready = ", ".join(sorted(names_with("evaluator")))
        raise InputError(f"`duihua eval {name}`: the {name} stage has no eval command (available: {ready})")
    return load_function(task.evaluator)


def names_with(attribute: str) -> Sequence[str]:
    """The stages that have ``attribute`` (``evaluator``, ``checkpoint_overrides``, ``exporter``), in table order."""
    return [t.name for t in TASKS if getattr(t, attribute) is not None]
