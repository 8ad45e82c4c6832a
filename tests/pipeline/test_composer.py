import shutil
from pathlib import Path

import pytest
from omegaconf import OmegaConf

from pipeline import Pipeline
from pipeline.composer import build_stage
from pipeline.config import CONF_DIR, load_config
from pipeline.errors import ConfigError
from tests.conftest import mini_overrides


def test_overrides_swap_and_disable_stages(mini_lexicons):
    pipe = Pipeline.from_config(overrides=mini_overrides(mini_lexicons, "reply=none", "segmenter=none",
                                                         "intent=none"))
    assert pipe.stage_names == ["splitter", "slots"]
    result = pipe("我想听周杰伦的稻香")
    assert result.reply is None and result.sentences[0].tokens == {}
    assert [m.surface for m in result.sentences[0].slots] == ["周杰伦", "稻香"]


def test_stage_order_is_checked_before_running():
    with pytest.raises(ConfigError, match=r"segmenter reads \['sentences'\]"):
        Pipeline.from_config(overrides=["splitter=none", "lexicons=[]"])


@pytest.mark.parametrize("override, message", [
    ("nokey=1", "nokey"),
    ("segmenter=nope", "available: jieba, neural, none"),
    ("lexicons=[nope]", "lexicons/nope"),
    ("runtime.max_chars=abc", "runtime.max_chars"),
    ("segmenter.granularities=[medium]", "segmenter.granularities"),
    ("slots.boundary_policy=sometimes", "boundary_policy"),
])
def test_bad_overrides_raise_readable_config_errors(override, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        Pipeline.from_config(overrides=["lexicons=[]", override])


NEURAL_PRECISIONS = ("splitter.precision", "splitter.intent_precision", "segmenter.precision", "slots.precision",
                     "intent.precision")


def _precisions(*overrides: str) -> dict[str, str]:
    cfg = load_config("pipeline", ["runtime=torch", *overrides])
    return {key: str(OmegaConf.select(cfg, key)) for key in NEURAL_PRECISIONS if OmegaConf.select(cfg, key)}


def test_an_explicit_runtime_precision_reaches_every_neural_stage():
    assert set(_precisions("runtime.precision=bf16").values()) == {"bf16"}
    assert set(_precisions("runtime.precision=fp32", "splitter=neural").values()) == {"fp32"}


def test_auto_precision_is_per_stage_as_the_runtime_group_names_it():
    auto = _precisions()
    assert auto["segmenter.precision"] == "auto"
    assert {auto[k] for k in NEURAL_PRECISIONS if k != "segmenter.precision"} == {"auto-gpu"}
    assert _precisions("runtime.auto_precision.slots=auto")["slots.precision"] == "auto"


def test_a_bad_stage_precision_is_named():
    with pytest.raises(ConfigError, match="runtime.auto_precision"):
        Pipeline.from_config(overrides=["lexicons=[]", "runtime=torch", "runtime.auto_precision.splitter=fp8"])


def test_lexicon_group_is_multi_select():
    cfg = load_config(overrides=["lexicons=[music,location]"])
    assert sorted(cfg.lexicons.domains) == ["location", "music"]
    assert Path(cfg.lexicons.domains.music).name == "music"


REQUIRED = {"encoder=hf": ["encoder.pretrained=/some/bert"]}  # options with a ??? value the user must set


@pytest.mark.parametrize("group, config", [(g, "pipeline") for g in
                                           ("splitter", "segmenter", "slots", "intent", "reply", "runtime")]
                         + [("encoder", "train/pretrain")])   # the encoder is chosen at train time only
def test_every_option_of_every_group_composes(group, config):
    for option in sorted(p.stem for p in (CONF_DIR / group).glob("*.yaml")):
        choice = f"{group}={option}"
        load_config(config, [choice, *REQUIRED.get(choice, [])])


def test_long_input_is_refused_with_the_limit_named(mini_lexicons):
    pipe = Pipeline.from_config(overrides=mini_overrides(mini_lexicons, "runtime.max_chars=10"))
    assert pipe("一二三四五六七八九十").sentences
    with pytest.raises(Exception, match=r"runtime.max_chars=10"):
        pipe("一二三四五六七八九十一")


def test_empty_and_whitespace_inputs_give_empty_valid_results(mini_pipe):
    for text in ("", "  \n\t "):
        result = mini_pipe(text)
        assert result.sentences == [] and result.reply is None and result.query.text == text


def test_batch_matches_single_calls_and_keeps_order(mini_pipe):
    texts = ["我想听稻香", "", "北京南站怎么走", "周董"] * 10
    batch = mini_pipe.batch(texts)
    assert [r.query.text for r in batch] == texts
    for text, r in zip(texts[:4], batch[:4], strict=True):
        single = mini_pipe(text).sentences
        assert [s.model_copy(update={"intent": None}) for s in r.sentences] == \
            [s.model_copy(update={"intent": None}) for s in single]
        # the default onnx-int8 runtime scales activations per batch: labels agree, scores to the third decimal
        for a, b in zip(r.sentences, single, strict=True):
            assert a.intent.label == b.intent.label and abs(a.intent.score - b.intent.score) < 1e-2


# -- build errors keep their cause ---------------------------------------------------------------------------
def _broken_copy(src: Path, dst: Path, name: str, keep_bytes: int) -> Path:
    """A copy of checkpoint ``src`` whose file ``name`` is cut after ``keep_bytes`` (a kill mid-copy)."""
    shutil.copytree(src, dst)
    (dst / name).write_bytes((src / name).read_bytes()[:keep_bytes])
    return dst


@pytest.mark.parametrize("name, keep, cause", [
    ("model.safetensors", 1000, "SafetensorError: Error while deserializing header"),
    ("intent.json", 200, "JSONDecodeError: "),
])
def test_a_broken_checkpoint_names_the_root_cause_and_the_checkpoint(tiny_intent_dir, tmp_path, name, keep, cause):
    folder = _broken_copy(tiny_intent_dir, tmp_path / "intent", name, keep)
    cfg = load_config(overrides=["lexicons=[]", "runtime=torch", f"intent.checkpoint={folder}"])
    with pytest.raises(ConfigError) as info:
        build_stage("intent", cfg.intent)
    message = str(info.value)
    assert message.startswith("intent: cannot build pipeline.stages.intent.SlotAwareIntentClassifier")
    assert cause in message and f"intent.checkpoint={folder}" in message
    assert "Error in call to target" not in message and "\n" not in message


def test_a_cuda_device_torch_cannot_see_is_named(monkeypatch):
    import torch

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 0)
    cfg = load_config(overrides=["lexicons=[]", "runtime.device=cuda"])
    with pytest.raises(ConfigError, match=r"^splitter: runtime.device=cuda, but torch sees no such CUDA device "
                                          r"\(0 visible\); use runtime.device=cpu$"):
        build_stage("splitter", cfg.splitter)


def _cache_error(tiny_splitter_dir: Path, cache: Path) -> str:
    cfg = load_config(overrides=["lexicons=[]", "splitter=neural", f"splitter.checkpoint={tiny_splitter_dir}",
                                 "runtime=onnx", f"paths.cache={cache}"])
    with pytest.raises(ConfigError) as info:
        build_stage("splitter", cfg.splitter)
    return str(info.value)


def test_a_cache_that_is_a_file_is_blamed_on_paths_cache(tiny_splitter_dir, tmp_path):
    cache = tmp_path / "cache"
    cache.write_text("not a folder")
    message = _cache_error(tiny_splitter_dir, cache)
    assert message.startswith(f"splitter: paths.cache: cannot write {cache}/onnx/")
    assert "(Not a directory)" in message and "splitter.checkpoint" not in message


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs procfs")
def test_a_cache_that_cannot_be_created_is_not_blamed_on_the_checkpoint(tiny_splitter_dir):
    # mkdir under /proc fails with ENOENT, the FileNotFoundError a missing checkpoint also raises
    message = _cache_error(tiny_splitter_dir, Path("/proc/duihua-cache"))
    assert message.startswith("splitter: paths.cache: cannot write /proc/duihua-cache (")
    assert message.endswith("set paths.cache=DIR or DUIHUA_CACHE_DIR to a writable folder")


def test_a_missing_checkpoint_is_still_the_checkpoint(tmp_path):
    cfg = load_config(overrides=["lexicons=[]", "splitter=neural", f"splitter.checkpoint={tmp_path}"])
    with pytest.raises(ConfigError, match=rf"^splitter.checkpoint: no splitter checkpoint in {tmp_path} "):
        build_stage("splitter", cfg.splitter)
