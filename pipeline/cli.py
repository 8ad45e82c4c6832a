"""``duihua`` command line: run | train | eval | serve | lexicon {build,stats,lookup}.

Every subcommand takes trailing Hydra overrides (``key=value``, ``group=option``, ``lexicons=[music]``).
A user mistake (bad file, key, option, over-long text) prints one ``duihua: error: ...`` line and exits 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import sys
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path

from pipeline.errors import DuihuaError, InputError

OVERRIDE_RE = re.compile(r"^[+~]{0,2}[A-Za-z_][\w.\-/@]*=")
# Stages that can be trained / evaluated, filled in as their issues land: name -> "module:function".
# A trainer takes the composed conf/train/<stage>.yaml as a plain dict and returns its final metrics.
TRAINERS: dict[str, str] = {"pretrain": "models.encoder.pretrain:train",
                             "segmenter": "models.segmenter.train:train",
                             "splitter": "models.splitter.train:train",
                             "splitter-distill": "models.splitter.distill:distill",
                             "request-scorer": "models.splitter.scorer_train:train",
                             "intent": "models.intent.train:train_from_config",
                             "intent-distill": "models.intent.distill:distill_from_config",
                             "slots": "models.slots.train:train_from_config",
                             "reply": "models.reply.train:train"}
EVALUATORS: dict[str, str] = {"slots": "pipeline.evaluate.slots:evaluate",
                              "segmenter": "pipeline.evaluate.segment:evaluate",
                              "splitter": "pipeline.evaluate.split:evaluate",
                              "intent": "pipeline.evaluate.intent:evaluate",
                              "reply": "pipeline.evaluate.reply:evaluate"}
# `duihua eval <stage> --checkpoint DIR`: the overrides that point the stage at DIR
CHECKPOINT_STAGES = {"segmenter": lambda d: ["segmenter=neural", f"segmenter.checkpoint={d}"],
                     # the boundary tagger of the configured model splitter (neural, or joint with its scorer)
                     "splitter": lambda d: [f"splitter.checkpoint={d}"],
                     "intent": lambda d: ["intent=slot_attention", f"intent.checkpoint={d}"],
                     "slots": lambda d: ["slots=fused", f"slots.checkpoint={d}"],
                     "reply": lambda d: ["reply=generative", f"reply.checkpoint={d}"]}
KNOWN_STAGES = ("pretrain", "splitter", "splitter-distill", "request-scorer", "segmenter",
                "slots", "intent", "intent-distill", "reply")
STAGE_ALIASES = {"split": "splitter", "segment": "segmenter"}  # verbs the issues use for the same stages
log = logging.getLogger("duihua")


def split_overrides(args: Sequence[str]) -> tuple[list[str], list[str]]:
    """Separate ``key=value`` overrides from other positional arguments."""
    overrides = [a for a in args if OVERRIDE_RE.match(a)]
    rest = [a for a in args if not OVERRIDE_RE.match(a)]
    return overrides, rest


# -- run ---------------------------------------------------------------------------------------------------
def parse_reference_time(value: str | None) -> datetime | None:
    """``--reference-time``: an ISO 8601 date or date-time, refused in one line when it is not one."""
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError as exc:
        raise InputError(f"--reference-time: not an ISO 8601 date-time: {value!r} (e.g. 2026-12-01T10:00)") from exc


def read_queries(path: Path, max_chars: int, reference_time: datetime | None = None) -> list:
    """Read ``.txt`` (one query per line; empty lines give empty results) or ``.jsonl`` (``{"text": ...}``).

    The whole file is validated before any processing so a bad line 90,000 fails fast, by line number.
    """
    from pydantic import ValidationError

    from pipeline.runtime import check_length
    from pipeline.schema import Query

    if not path.is_file():
        raise InputError(f"input file not found: {path}")
    if path.suffix not in (".txt", ".jsonl"):
        raise InputError(f"{path}: expected a .txt (one query per line) or .jsonl file ({{\"text\": ...}} per line)")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 (byte {exc.start})") from exc
    queries = []
    for lineno, line in enumerate(lines, start=1):
        if path.suffix == ".txt":
            query = Query(text=line, reference_time=reference_time)
        else:
            if not line.strip():
                raise InputError(f"{path}:{lineno}: empty line (each line must be a JSON object with \"text\")")
            try:
                obj = json.loads(line)
                if reference_time is not None and isinstance(obj, dict):
                    obj.setdefault("reference_time", reference_time.isoformat())
                query = Query.model_validate(obj)
            except json.JSONDecodeError as exc:
                raise InputError(f"{path}:{lineno}: not valid JSON ({exc.msg})") from exc
            except ValidationError as exc:
                err = exc.errors()[0]
                raise InputError(f"{path}:{lineno}: {'.'.join(map(str, err['loc'])) or 'record'}: {err['msg']}") \
                    from exc
        check_length(query.text, max_chars, f"{path}:{lineno}")
        queries.append(query)
    return queries


def cmd_run(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from pipeline.config import load_config
    from pipeline.runtime import Pipeline, check_length, runtime_config
    from pipeline.schema import Query

    overrides, rest = split_overrides(args.args)
    texts = ([args.text] if args.text is not None else []) + rest
    if args.input and texts:
        raise InputError("give either a text argument or --input FILE, not both")
    if not args.input and len(texts) != 1:
        raise InputError(f"expected one text argument (quote it), got {len(texts)}: {texts}")
    cfg = load_config("pipeline", overrides)
    runtime = runtime_config(cfg)
    reference_time = parse_reference_time(args.reference_time)
    queries = read_queries(Path(args.input), runtime.max_chars, reference_time) if args.input else None
    if queries is None:
        check_length(texts[0], runtime.max_chars, "text")  # before loading any stage
    pipe = Pipeline.from_cfg(cfg)
    if queries is None:
        result = pipe(Query(text=texts[0], reference_time=reference_time))
        print(result.model_dump_json(indent=None if args.compact else 2))
        return 0
    out = open(args.output, "w", encoding="utf-8") if args.output else sys.stdout  # noqa: SIM115
    try:
        with tqdm(total=len(queries), unit="query", desc="duihua run", disable=None, file=sys.stderr) as bar:
            for i in range(0, len(queries), runtime.batch_size):
                for result in pipe.batch(queries[i : i + runtime.batch_size]):
                    out.write(result.model_dump_json() + "\n")
                bar.update(min(runtime.batch_size, len(queries) - i))
    finally:
        if out is not sys.stdout:
            out.close()
    if args.output:
        print(f"wrote {len(queries)} results to {args.output}", file=sys.stderr)
    return 0


# -- train / eval ------------------------------------------------------------------------------------------
def _resolve(registry: dict[str, str], verb: str, stage: str) -> Callable[..., int]:
    stage = STAGE_ALIASES.get(stage, stage)
    if stage not in registry:
        if stage not in KNOWN_STAGES:
            raise InputError(f"unknown stage {stage!r}; stages: {', '.join(KNOWN_STAGES)}")
        ready = ", ".join(sorted(registry)) or "none yet"
        raise InputError(f"`duihua {verb} {stage}` is not available yet: the {stage} stage has no {verb} command "
                         f"in this version (available: {ready})")
    module, func = registry[stage].split(":")
    import importlib

    return getattr(importlib.import_module(module), func)


def cmd_train(args: argparse.Namespace) -> int:
    from omegaconf import OmegaConf

    from models.common.errors import TrainConfigError
    from pipeline.config import load_config
    from pipeline.errors import ConfigError
    from pipeline.report import print_report

    overrides, rest = split_overrides(args.args)
    if rest:
        raise InputError(f"unexpected arguments {rest}; overrides look like key=value")
    train_fn = _resolve(TRAINERS, "train", args.stage)
    cfg = load_config(f"train/{args.stage}", overrides)
    plain = OmegaConf.to_container(cfg, resolve=True)
    plain["command"] = " ".join(["duihua", "train", args.stage, *overrides])
    try:
        metrics = train_fn(plain)
    except TrainConfigError as exc:
        raise ConfigError(str(exc)) from exc
    rows = [(k, v) for k, v in metrics.items()]
    print_report(("metric", "value"), rows, {"stage": args.stage, **metrics})
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    overrides, rest = split_overrides(args.args)
    if rest:
        raise InputError(f"unexpected arguments {rest}; overrides look like key=value")
    fn = _resolve(EVALUATORS, "eval", args.stage)
    if not Path(args.data).is_file():
        raise InputError(f"data file not found: {args.data}")
    stage = STAGE_ALIASES.get(args.stage, args.stage)
    if args.checkpoint:
        if stage not in CHECKPOINT_STAGES:
            raise InputError(f"--checkpoint applies to {sorted(CHECKPOINT_STAGES)}, not {args.stage}")
        if not Path(args.checkpoint).is_dir():
            raise InputError(f"checkpoint folder not found: {args.checkpoint}")
        overrides = [*CHECKPOINT_STAGES[stage](str(Path(args.checkpoint).resolve())), *overrides]
    if stage == "segmenter":
        return fn(Path(args.data), overrides, granularity=args.granularity, vocab_file=args.vocab)
    return fn(Path(args.data), overrides)


def cmd_serve(args: argparse.Namespace) -> int:
    from omegaconf import OmegaConf
    from pydantic import ValidationError

    from pipeline.config import load_config
    from pipeline.errors import ConfigError
    from pipeline.http import ServerConfig, check_port_free, create_app, serve
    from pipeline.runtime import Pipeline

    overrides, rest = split_overrides(args.args)
    if rest:
        raise InputError(f"unexpected arguments {rest}; overrides look like key=value")
    cfg = load_config("pipeline", overrides)
    try:
        server = ServerConfig.model_validate(OmegaConf.to_container(cfg.server, resolve=True))
    except ValidationError as exc:
        err = exc.errors()[0]
        raise ConfigError(f"server.{'.'.join(map(str, err['loc']))}: {err['msg']} (got {err['input']!r})") from exc
    check_port_free(server.host, server.port)  # a busy port exits 2 now, not after the model load
    if server.threads is not None:  # before the pipeline: ONNX sessions take their thread count when built
        import torch

        torch.set_num_threads(server.threads)
    pipe = Pipeline.from_cfg(cfg)  # built before binding, so a bad checkpoint or lexicon exits 2 with one line
    app = create_app(pipe, server)
    logging.getLogger("duihua.http").setLevel(logging.INFO if server.log_requests else logging.WARNING)
    print(f"duihua: serving on http://{server.host}:{server.port}/ (demo), API docs at /docs", file=sys.stderr)
    serve(app, server)
    return 0


# -- export ------------------------------------------------------------------------------------------------
def cmd_export(args: argparse.Namespace) -> int:
    from pipeline.config import load_config
    from pipeline.export import EXPORT_STAGES, export_stage
    from pipeline.report import print_report

    overrides, rest = split_overrides(args.args)
    if rest:
        raise InputError(f"unexpected arguments {rest}; overrides look like key=value")
    stage = STAGE_ALIASES.get(args.stage, args.stage)
    if stage not in EXPORT_STAGES:
        raise InputError(f"duihua export: stage must be one of {', '.join(EXPORT_STAGES)}, got {args.stage!r}")
    cfg = load_config("pipeline", overrides)
    checkpoint = Path(args.checkpoint) if args.checkpoint else Path(cfg.paths.checkpoints) / stage
    rows, metrics = export_stage(stage, checkpoint.resolve(), cfg, Path(args.output) if args.output else None,
                                 with_metric=not args.no_dev_metric)
    print_report(("backend", "files", "MB", "max |diff| vs torch", metrics["dev_metric"], "load s"), rows, metrics)
    return 0


# -- lexicon -----------------------------------------------------------------------------------------------
def cmd_lexicon(args: argparse.Namespace) -> int:
    from pipeline.config import load_config
    from pipeline.report import print_report

    overrides, rest = split_overrides(args.args)
    cfg = load_config("pipeline", overrides)
    if args.action == "build":
        from pipeline.lexicon.build import build_lexicons

        if rest:
            raise InputError(f"unexpected arguments {rest}")
        data = Path(args.data or cfg.paths.data).expanduser()
        out = Path(args.out or cfg.paths.lexicons).expanduser()
        if not data.is_dir():
            raise InputError(f"data folder not found: {data} (pass --data DIR or set DUIHUA_DATA)")
        counts = build_lexicons(data, out)
        rows = [(d, s, n) for d, slots in counts.items() for s, n in slots.items()]
        total = sum(n for _, _, n in rows)
        print_report(("domain", "slot", "entries"), rows,
                     {"domains": len(counts), "entries": total, "out": str(out)})
        return 0

    from pipeline.composer import build_stage

    if "_target_" not in (cfg.slots or {}):
        raise InputError("slots=none: no gazetteer is configured")
    tagger = build_stage("slots", cfg.slots)
    gaz = tagger.gazetteer  # type: ignore[attr-defined]
    if args.action == "stats":
        if rest:
            raise InputError(f"unexpected arguments {rest}")
        per_source, surfaces = gaz.counts()
        rows = [(src.domain, src.slot, src.file, src.priority, n) for src, n in per_source.items()]
        print_report(("domain", "slot", "file", "priority", "entries"), rows,
                     {"domains": len(gaz.domains), "entries": gaz.size, "surfaces": surfaces,
                      "hash": gaz.content_hash[:16]})
        return 0
    # lookup
    if len(rest) != 1:
        raise InputError("usage: duihua lexicon lookup WORD [overrides]")
    word = rest[0]
    exact = gaz.lookup(word)
    inside = [h for h in gaz.find(word) if (h.start, h.end) != (0, len(word))]
    rows = [("exact", word, h.source.domain, h.source.slot, h.value, h.source.file) for h in exact]
    rows += [("inside", word[h.start:h.end], h.source.domain, h.source.slot, h.value, h.source.file)
             for h in inside]
    print_report(("match", "surface", "domain", "slot", "value", "file"), rows,
                 {"word": word, "exact": len(exact), "inside": len(inside)})
    return 0


# -- entry point -------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="duihua", description="Chinese dialogue NLU toolkit.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log stage construction and timings")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="process text: split, segment, tag slots, classify, reply")
    run.add_argument("args", nargs="*", help="the text (quoted) and/or Hydra overrides key=value")
    run.add_argument("--text", help="the text, when it could be mistaken for an override")
    run.add_argument("--input", help=".txt (one query per line) or .jsonl ({\"text\": ...} per line)")
    run.add_argument("--output", help="write JSONL results here instead of stdout")
    run.add_argument("--compact", action="store_true", help="one-line JSON for a single text")
    run.add_argument("--reference-time", metavar="ISO",
                     help="what 明天 / 半小时后 resolve against (ISO 8601, e.g. 2026-12-01T10:00); default: now")
    run.set_defaults(func=cmd_run)

    train = sub.add_parser("train", help="train a stage: " + ", ".join(KNOWN_STAGES))
    train.add_argument("stage")
    train.add_argument("args", nargs="*", help="Hydra overrides")
    train.set_defaults(func=cmd_train)

    ev = sub.add_parser("eval", help="evaluate a stage on a data file; ends with one JSON line")
    ev.add_argument("stage")
    ev.add_argument("--data", required=True)
    ev.add_argument("--granularity", choices=["fine", "coarse"], default="fine", help="segment: which view")
    ev.add_argument("--vocab", help="segment: training word list for OOV recall (default: official list)")
    ev.add_argument("--checkpoint", help="a trained checkpoint folder (segment, split, intent) instead of the "
                    "shipped one")
    ev.add_argument("args", nargs="*", help="Hydra overrides")
    ev.set_defaults(func=cmd_eval)

    exp = sub.add_parser("export", help="ONNX export (fp32 + int8) of a neural stage, with parity and dev metric")
    exp.add_argument("stage", help="splitter | segmenter | intent | reply")
    exp.add_argument("--checkpoint", help="a trained checkpoint folder instead of the shipped one")
    exp.add_argument("--output", help="also copy the ONNX files into this folder")
    exp.add_argument("--no-dev-metric", action="store_true", help="parity on probe queries only (fast)")
    exp.add_argument("args", nargs="*", help="Hydra overrides (paths.cache=DIR, ...)")
    exp.set_defaults(func=cmd_export)

    serve = sub.add_parser("serve", help="HTTP API and web demo (server.* keys; demo at /, docs at /docs)")
    serve.add_argument("args", nargs="*")
    serve.set_defaults(func=cmd_serve)

    lex = sub.add_parser("lexicon", help="build, inspect or query the domain lexicons")
    lex.add_argument("action", choices=["build", "stats", "lookup"])
    lex.add_argument("args", nargs="*", help="WORD for lookup, and/or Hydra overrides")
    lex.add_argument("--data", help="source data folder for build (default: paths.data)")
    lex.add_argument("--out", help="output folder for build (default: paths.lexicons)")
    lex.set_defaults(func=cmd_lexicon)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # argparse stops filling a positional list at the first option (`eval slots --data F key=value`), so
    # overrides after an option arrive here; anything else is a genuine usage error.
    unknown = [a for a in extra if not OVERRIDE_RE.match(a)]
    if unknown or (extra and not hasattr(args, "args")):
        parser.error(f"unrecognized arguments: {' '.join(unknown or extra)}")
    if extra:
        args.args = [*args.args, *extra]
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.func(args)
    except DuihuaError as exc:
        print(f"duihua: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("duihua: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `duihua run ... | head`
        return 0


if __name__ == "__main__":
    sys.exit(main())
