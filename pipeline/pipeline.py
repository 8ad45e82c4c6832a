"""The ``Pipeline``: runs composed stages over batches of queries, timing each stage.

Input policy (README, "Input limits"): empty or whitespace-only text gives an empty valid result; text over
``runtime.max_chars`` is refused with an ``InputError`` naming the limit, because silently truncating a user's
request would lose data, and windows would cut requests in half before the splitter has seen them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Literal

from omegaconf import DictConfig, OmegaConf
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pipeline.composer import build_stages
from pipeline.config import load_config
from pipeline.errors import ConfigError, InputError, InputTooLongError
from pipeline.protocol import ReloadableStage, Stage
from pipeline.schema import PipelineResult, Query, encoding_problem

Precision = Literal["auto", "auto-gpu", "fp32", "bf16", "fp16"]


class RuntimeConfig(BaseModel):
    """Typed view of ``cfg.runtime``: bad values fail at build time with the key named."""

    model_config = ConfigDict(extra="allow")

    backend: Literal["torch", "onnx", "onnx-int8"] = "torch"  # neural stages: eager torch or ONNX Runtime
    device: str = "cpu"
    precision: Precision = "auto"  # every neural stage (pipeline.config.stage_precision)
    auto_precision: dict[str, Precision] = Field(default_factory=dict)  # what ``auto`` means for a named stage
    batch_size: int = Field(32, gt=0)
    max_chars: int = Field(2000, gt=0)


def check_length(text: str, limit: int, where: str) -> None:
    """Refuse text over ``runtime.max_chars`` with one message naming the input and the limit."""
    if len(text) > limit:
        raise InputTooLongError(f"{where}: {len(text)} characters is over the limit runtime.max_chars={limit}; "
                         "split the text or raise the limit (runtime.max_chars=N)")


def runtime_config(cfg: DictConfig) -> RuntimeConfig:
    raw = OmegaConf.to_container(cfg.get("runtime") or {}, resolve=True)
    try:
        return RuntimeConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ConfigError(f"runtime.{'.'.join(map(str, first['loc']))}: {first['msg']} "
                          f"(got {first.get('input')!r})") from exc


class Pipeline:
    """Composed stages plus runtime settings. Thread-safe for concurrent calls (stages hold no per-call state)."""

    def __init__(self, stages: list[tuple[str, Stage]], runtime: RuntimeConfig | None = None,
                 cfg: DictConfig | None = None) -> None:
        self.stages = stages
        self.runtime = runtime or RuntimeConfig()
        self.cfg = cfg

    @classmethod
    def from_config(cls, overrides: Sequence[str] = (), config_name: str = "pipeline") -> Pipeline:
        """Compose ``conf/<config_name>.yaml`` with Hydra overrides, e.g. ``["lexicons=[music]", "reply=none"]``."""
        return cls.from_cfg(load_config(config_name, overrides))

    @classmethod
    def from_cfg(cls, cfg: DictConfig, build_ms: dict[str, float] | None = None) -> Pipeline:
        """Build from an already composed config (the CLI validates inputs between composing and building);
        ``build_ms`` receives each stage's build time (``duihua run --profile-startup``)."""
        runtime = runtime_config(cfg)   # first: a bad runtime key is named as such, not as the first stage's error
        return cls(build_stages(cfg, build_ms), runtime, cfg)

    @property
    def stage_names(self) -> list[str]:
        return [name for name, _ in self.stages]

    def stage(self, name: str) -> Stage:
        for n, s in self.stages:
            if n == name:
                return s
        raise KeyError(f"no enabled stage {name!r}; enabled: {self.stage_names}")

    def _to_doc(self, item: str | Query, index: int) -> PipelineResult:
        query = item if isinstance(item, Query) else None
        if query is None:
            if not isinstance(item, str):
                raise InputError(f"input {index}: expected text (str) or Query, got {type(item).__name__}")
            problem = encoding_problem(item)
            if problem:
                raise InputError(f"input {index}: {problem}")
            query = Query(text=item)
        check_length(query.text, self.runtime.max_chars, f"input {index}")
        return PipelineResult(query=query)

    def batch(self, items: Sequence[str | Query]) -> list[PipelineResult]:
        """Process many queries; each stage sees them in chunks of ``runtime.batch_size``."""
        docs = [self._to_doc(item, i) for i, item in enumerate(items)]
        out: list[PipelineResult] = []
        for chunk in _chunks(docs, self.runtime.batch_size):
            out.extend(self._run(chunk))
        return out

    def __call__(self, item: str | Query) -> PipelineResult:
        return self.batch([item])[0]

    def _run(self, docs: list[PipelineResult]) -> list[PipelineResult]:
        timings: dict[str, float] = {}
        for name, stage in self.stages:
            t0 = time.perf_counter()
            docs = stage.process(docs)
            timings[name] = round((time.perf_counter() - t0) * 1000.0, 3)
        names = self.stage_names
        # each result carries the wall time of the batch it was processed in
        return [d.model_copy(update={"timings_ms": dict(timings), "stages": list(names)}) for d in docs]

    def reload_lexicons(self) -> bool:
        """Hot reload: every lexicon the stages read is rebuilt, then all are swapped; True when any changed."""
        commit = self.prepare_reload()
        if commit is not None:
            commit()
        return commit is not None

    def prepare_reload(self) -> Callable[[], None] | None:
        """Rebuild every lexicon the stages read without swapping any: the swap of them all, or None when none
        changed. A rebuild that fails raises before anything is swapped, so the stages never disagree on the
        lexicons, and replicas (``pipeline/serve_ray.py``) can all swap or all stay on the old ones."""
        lives = {id(live): live for _, stage in self.stages if isinstance(stage, ReloadableStage)
                 for live in stage.live_lexicons()}
        fresh = [(live, live.prepare()) for live in lives.values()]
        changed = [(live, gazetteer) for live, gazetteer in fresh if gazetteer is not None]
        if not changed:
            return None

        def commit() -> None:
            for live, gazetteer in changed:
                live.commit(gazetteer)
        return commit


def _chunks(items: list[PipelineResult], size: int) -> Iterator[list[PipelineResult]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]
