"""``duihua`` command line: run | train | eval | serve | lexicon {build,stats,lookup}.

Every subcommand takes Hydra overrides (``key=value``, ``group=option``, ``+key=value``, ``~key``) anywhere among
its text and options. A user mistake (bad file, key, option, over-long text, unwritable output) prints one
``duihua: error: ...`` line and exits 2.
"""

from __future__ import annotations

import argparse
import codecs
import contextlib
import json
import logging
import os
import re
import sys
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import TextIO

from pipeline.errors import DuihuaError, InputError

# Hydra's override grammar, keys in ASCII: `key=value`, `+key=value`, `++key=value`, `~key=value` and `~key`.
# A text that starts like one (`x=1是什么`) needs `--text`; one that merely contains `=` (`1+1=2`) does not.
OVERRIDE_RE = re.compile(r"^(?:[+~]{0,2}[A-Za-z_][\w.\-/@]*=|~[A-Za-z_][\w.\-/@]*$)", re.ASCII)
log = logging.getLogger("duihua")


def split_overrides(args: Sequence[str]) -> tuple[list[str], list[str]]:
    """Separate overrides (``OVERRIDE_RE``: ``key=value``, ``+key=value``, ``~key``) from the other positional
    arguments (texts, a lexicon word), keeping each group's order."""
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


def read_lines(path: Path) -> list[str]:
    """The lines of a UTF-8 file, split on ``\\n`` only (``iter_lines``), all decoded before any is used."""
    return [decode_line(raw, path, lineno) for lineno, raw in iter_lines(path)]


def iter_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """``(line number, raw line)`` of a file, read as a stream, split on ``\\n`` only.

    Why not ``str.splitlines``: it also breaks at U+2028/2029, NEL (``\\x85``), form feed and other separators
    that can sit inside a query (or a JSON string), and then output line N no longer answers input line N.
    A trailing ``\\r`` (CRLF files) and a UTF-8 byte-order mark at the start are dropped; a final ``\\n`` ends
    the last line rather than starting an empty one.
    """
    with path.open("rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            if lineno == 1:
                raw = raw.removeprefix(codecs.BOM_UTF8)
            yield lineno, raw.removesuffix(b"\n").removesuffix(b"\r")


def decode_line(raw: bytes, path: Path, lineno: int) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}:{lineno}: not UTF-8 (byte 0x{raw[exc.start]:02x} at byte {exc.start + 1} "
                         "of the line)") from exc


def read_queries(path: Path, max_chars: int, reference_time: datetime | None = None) -> list:
    """Read ``.txt`` (one query per line; empty lines give empty results) or ``.jsonl`` (``{"text": ...}``).

    The whole file is validated before any processing so a bad line 90,000 fails fast, by line number.
    """
    check_input_file(path)
    return [line_query(raw, path, lineno, max_chars, reference_time) for lineno, raw in iter_lines(path)]


def line_query(raw: bytes, path: Path, lineno: int, max_chars: int, reference_time: datetime | None):  # noqa: ANN201
    """Line ``lineno`` of ``path`` as a ``Query``, or the ``InputError`` that names what is wrong with it."""
    from pipeline.pipeline import check_length

    where = f"{path}:{lineno}"
    query = parse_query(decode_line(raw, path, lineno), path.suffix, reference_time, where)
    check_length(query.text, max_chars, where)
    return query


def check_input_file(path: Path) -> None:
    if not path.exists():
        raise InputError(f"input file not found: {path}")
    if not path.is_file():
        raise InputError(f"--input {path}: not a file")
    if path.suffix not in (".txt", ".jsonl"):
        raise InputError(f"{path}: expected a .txt (one query per line) or .jsonl file ({{\"text\": ...}} per line)")


def parse_query(line: str, suffix: str, reference_time: datetime | None, where: str):  # noqa: ANN201 - Query
    """One input line as a ``Query``: the line itself (``.txt``) or its JSON object (``.jsonl``)."""
    from pydantic import ValidationError

    from pipeline.schema import Query

    try:
        if suffix == ".txt":
            return Query(text=line, reference_time=reference_time)
        if not line.strip():
            raise InputError(f"{where}: empty line (each line must be a JSON object with \"text\")")
        obj = json.loads(line)
        if reference_time is not None and isinstance(obj, dict):
            obj.setdefault("reference_time", reference_time.isoformat())
        return Query.model_validate(obj)
    except json.JSONDecodeError as exc:
        raise InputError(f"{where}: not valid JSON ({exc.msg})") from exc
    except ValidationError as exc:
        err = exc.errors()[0]
        field = "" if suffix == ".txt" else f"{'.'.join(map(str, err['loc'])) or 'record'}: "
        raise InputError(f"{where}: {field}{err['msg'].removeprefix('Value error, ')}") from exc


def check_output(output: str, input_file: str | None) -> Path:
    """``--output``, checked before any model loads (that takes seconds): its folder exists, it is not a folder,
    it can be written, and it is not the input (opening it for writing would empty the input first)."""
    path = Path(output).expanduser()
    if path.is_dir():
        raise InputError(f"--output {output}: is a folder; give a file path")
    folder = path.parent
    if not folder.is_dir():
        raise InputError(f"--output {output}: folder {folder} does not exist")
    if input_file and path.exists() and Path(input_file).exists() and os.path.samefile(path, input_file):
        raise InputError(f"--output {output} is the input file {input_file}; writing would overwrite it")
    if not os.access(path if path.exists() else folder, os.W_OK):
        raise InputError(f"--output {output}: not writable")
    return path


def write_results(lines: Iterable[str], output: Path | None) -> int:
    """Write one JSON line per result to ``output`` (stdout when None); the count written."""
    if output is None:
        return _write_lines(lines, sys.stdout)
    with output_file(output) as out:
        return _write_lines(lines, out, output)


@contextlib.contextmanager
def output_file(path: Path) -> Iterator[TextIO]:
    """``path`` opened for writing. A failing open or close (a full disk: the last buffer is written then) is
    the user's to fix, so it is one ``InputError`` naming the file; errors of the code writing pass through."""
    try:
        out = path.open("w", encoding="utf-8")
    except OSError as exc:
        raise _cannot_write(path, exc) from exc
    try:
        yield out
    finally:
        try:
            out.close()
        except OSError as exc:
            raise _cannot_write(path, exc) from exc  # a failed close loses results: say so


def _write_lines(lines: Iterable[str], out: TextIO, path: Path | None = None) -> int:
    """Only the writes are guarded: the pipeline runs in ``lines``, and its errors are not the output's."""
    n = 0
    for line in lines:
        try:
            out.write(line + "\n")
        except OSError as exc:
            if path is None:
                raise  # stdout: a closed pipe (`| head`) is handled by main
            raise _cannot_write(path, exc) from exc
        n += 1
    return n


def _cannot_write(path: Path, exc: OSError) -> InputError:
    return InputError(f"--output {path}: cannot write ({exc.strerror or exc})")


def batch_results(pipe, queries: list, batch_size: int) -> Iterator[str]:  # noqa: ANN001 - a Pipeline
    """Results of ``queries`` as JSON lines, ``batch_size`` at a time, with a progress bar on a terminal."""
    from tqdm import tqdm

    with tqdm(total=len(queries), unit="query", desc="duihua run", disable=None, file=sys.stderr) as bar:
        for i in range(0, len(queries), batch_size):
            for result in pipe.batch(queries[i : i + batch_size]):
                yield result.model_dump_json()
            bar.update(min(batch_size, len(queries) - i))


def cmd_run(args: argparse.Namespace) -> int:
    from pipeline.config import load_config
    from pipeline.pipeline import Pipeline, check_length, runtime_config
    from pipeline.startup_profile import StartupProfile

    overrides, rest = split_overrides(args.args)
    texts = ([args.text] if args.text is not None else []) + rest
    if args.input and texts:
        raise InputError("give either a text argument or --input FILE, not both")
    if not args.input and len(texts) != 1:
        hint = "; a text that looks like key=value goes in --text" if not texts and overrides else ""
        raise InputError(f"expected one text argument (quote it), got {len(texts)}: {texts}{hint}")
    output = check_output(args.output, args.input) if args.output else None
    if args.input:
        check_input_file(Path(args.input))
    check_engine_options(args)
    profile = StartupProfile() if args.profile_startup else None
    cfg = load_config("pipeline", overrides)
    runtime = runtime_config(cfg)
    reference_time = parse_reference_time(args.reference_time)
    if args.engine == "ray":
        return run_on_ray(args, overrides, runtime.max_chars, reference_time)
    if args.input:
        queries = read_queries(Path(args.input), runtime.max_chars, reference_time)
    else:
        queries = [parse_query(texts[0], ".txt", reference_time, "text")]
        check_length(texts[0], runtime.max_chars, "text")  # before loading any stage
    if profile is not None:
        profile.mark("compose config, read input")
    pipe = Pipeline.from_cfg(cfg, build_ms=profile.stage_ms if profile is not None else None)
    if profile is not None:
        profile.stages_built()
    if not args.input and output is None:
        print(pipe(queries[0]).model_dump_json(indent=None if args.compact else 2))
    else:
        n = write_results(batch_results(pipe, queries, runtime.batch_size), output)
        if output is not None:
            print(f"wrote {n} results to {args.output}", file=sys.stderr)
    if profile is not None:
        profile.mark("first query" if len(queries) == 1 else f"{len(queries)} queries")
        profile.report()
    return 0


def check_engine_options(args: argparse.Namespace) -> None:
    """``--engine ray`` and its options, refused in one line before anything loads."""
    if args.engine == "local":
        extra = [flag for flag, value in (("--errors", args.errors), ("--address", args.address),
                                          ("--workers", args.workers)) if value is not None]
        if extra:
            raise InputError(f"{extra[0]} applies to --engine ray")
        return
    from pipeline.batch_ray import import_ray

    if not args.input:
        raise InputError("--engine ray runs an --input file; a single text runs in this process")
    if args.profile_startup:
        raise InputError("--profile-startup measures the one-process engine; drop --engine ray")
    if args.workers is not None and args.workers < 1:
        raise InputError(f"--workers must be at least 1, got {args.workers}")
    if args.errors:
        check_output(args.errors, args.input)
        if args.output and Path(args.errors).expanduser().resolve() == Path(args.output).expanduser().resolve():
            raise InputError("--errors and --output are the same file")
    import_ray()


def run_on_ray(args: argparse.Namespace, overrides: list[str], max_chars: int, reference_time: datetime | None
               ) -> int:
    from pipeline.batch_ray import RayJob, run_job

    job = RayJob(input=Path(args.input), output=Path(args.output).expanduser() if args.output else None,
                 errors=Path(args.errors).expanduser() if args.errors else None, overrides=overrides,
                 workers=args.workers or 2, address=args.address, max_chars=max_chars, reference_time=reference_time)
    summary = run_job(job)
    where = f" to {args.output}" if args.output else ""
    errors = f", {summary['bad_lines']} bad lines in {args.errors}" if args.errors else ""
    rss = ", ".join(" ".join(str(k // 1024) for k in q) for q in summary["rss_quartiles_kib"].values())
    print(f"wrote {summary['lines']} results{where} with {summary['workers']} Ray workers{errors}; "
          f"worker peak RSS MB after 1 block, 1/4, 1/2, all: {rss or 'none'}", file=sys.stderr)
    return 0


# -- train / eval ------------------------------------------------------------------------------------------
def require_file(value: str, what: str) -> Path:
    """A file the command reads, checked before any model loads; the message names it."""
    path = Path(value)
    if not path.exists():
        raise InputError(f"{what} not found: {value}")
    if not path.is_file():
        raise InputError(f"{what} is not a file: {value}")
    return path


def cmd_train(args: argparse.Namespace) -> int:
    from omegaconf import OmegaConf

    from models.common.errors import TrainConfigError
    from pipeline.config import load_config
    from pipeline.errors import ConfigError
    from pipeline.report import print_report
    from pipeline.tasks import stage_name, trainer

    overrides, rest = split_overrides(args.args)
    if rest:
        raise InputError(f"unexpected arguments {rest}; overrides look like key=value")
    train_fn = trainer(args.stage)
    command = stage_name(args.stage)
    cfg = load_config(f"train/{command}", overrides)
    plain = OmegaConf.to_container(cfg, resolve=True)
    plain["command"] = " ".join(["duihua", "train", command, *overrides])
    try:
        metrics = train_fn(plain)
    except TrainConfigError as exc:
        raise ConfigError(str(exc)) from exc
    rows = [(k, v) for k, v in metrics.items()]
    print_report(("metric", "value"), rows, {"stage": args.stage, **metrics})
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from pipeline.tasks import evaluator, find_task, names_with, stage_name

    overrides, rest = split_overrides(args.args)
    if rest:
        raise InputError(f"unexpected arguments {rest}; overrides look like key=value")
    fn = evaluator(args.stage)
    require_file(args.data, "data file")
    stage = stage_name(args.stage)
    if args.vocab is not None:
        if stage != "segmenter":
            raise InputError(f"--vocab applies to segment, not {args.stage}")
        require_file(args.vocab, "vocab file")  # else OOV recall would silently fall back to null
    if args.checkpoint:
        point_at = find_task(stage).checkpoint_overrides
        if point_at is None:
            raise InputError(f"--checkpoint applies to {sorted(names_with('checkpoint_overrides'))}, not {args.stage}")
        if not Path(args.checkpoint).is_dir():
            raise InputError(f"checkpoint folder not found: {args.checkpoint}")
        overrides = [*point_at(str(Path(args.checkpoint).resolve())), *overrides]
    if stage == "segmenter":
        return fn(Path(args.data), overrides, granularity=args.granularity, vocab_file=args.vocab)
    return fn(Path(args.data), overrides)


def cmd_serve(args: argparse.Namespace) -> int:
    from omegaconf import OmegaConf
    from pydantic import ValidationError

    from pipeline.config import load_config
    from pipeline.errors import ConfigError
    from pipeline.http import ServerConfig, check_port_free, create_app, serve
    from pipeline.pipeline import Pipeline

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
    if args.engine == "ray":
        return serve_on_ray_engine(args, cfg, overrides, server)
    if args.replicas is not None or args.address is not None:
        raise InputError(f"{'--replicas' if args.replicas is not None else '--address'} applies to --engine ray")
    if server.threads is not None:  # before the pipeline: ONNX sessions take their thread count when built
        from models.common.onnx import set_intra_op_threads

        set_intra_op_threads(server.threads)
    pipe = Pipeline.from_cfg(cfg)  # built before binding, so a bad checkpoint or lexicon exits 2 with one line
    app = create_app(pipe, server)
    logging.getLogger("duihua.http").setLevel(logging.INFO if server.log_requests else logging.WARNING)
    print(f"duihua: serving on http://{server.host}:{server.port}/ (demo), API docs at /docs", file=sys.stderr)
    serve(app, server)
    return 0


def serve_on_ray_engine(args: argparse.Namespace, cfg: object, overrides: list[str], server: object) -> int:
    """``duihua serve --engine ray``: Ray Serve replicas of the same app. The pipeline is built here once first
    and dropped, so that a bad checkpoint or lexicon is one line and exit 2, as for one process, rather than a
    deployment failure from inside a replica."""
    import gc

    from pipeline.batch_ray import import_ray
    from pipeline.pipeline import Pipeline
    from pipeline.serve_ray import serve_on_ray

    if args.replicas is not None and args.replicas < 1:
        raise InputError(f"--replicas must be at least 1, got {args.replicas}")
    import_ray()
    Pipeline.from_cfg(cfg)
    gc.collect()
    serve_on_ray(overrides, server.host, server.port, args.replicas or 2, server.queue_size, args.address)
    return 0


# -- export ------------------------------------------------------------------------------------------------
def cmd_export(args: argparse.Namespace) -> int:
    from pipeline.config import load_config
    from pipeline.export import EXPORT_STAGES, export_stage
    from pipeline.report import print_report
    from pipeline.tasks import stage_name

    overrides, rest = split_overrides(args.args)
    if rest:
        raise InputError(f"unexpected arguments {rest}; overrides look like key=value")
    stage = stage_name(args.stage)
    if stage not in EXPORT_STAGES:
        raise InputError(f"duihua export: stage must be one of {', '.join(EXPORT_STAGES)}, got {args.stage!r}")
    if args.output and Path(args.output).exists() and not Path(args.output).is_dir():
        raise InputError(f"--output {args.output}: not a folder (export copies its ONNX files into a folder)")
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
    run.add_argument("--profile-startup", action="store_true",
                     help="print to stderr where the start-up went (imports, config, each stage, first query)")
    run.add_argument("--engine", choices=["local", "ray"], default="local",
                     help="ray: run an --input file on a pool of Ray workers (pip install 'duihua[ray]')")
    run.add_argument("--workers", type=int, help="--engine ray: worker processes, each with one pipeline (2)")
    run.add_argument("--address", help="--engine ray: a running Ray cluster (default: start one for the job)")
    run.add_argument("--errors", help="--engine ray: write bad lines here ({\"line\": N, \"error\": ...}) and "
                     "go on; their output line is null")
    run.add_argument("--reference-time", metavar="ISO",
                     help="what 明天 / 半小时后 resolve against (ISO 8601, e.g. 2026-12-01T10:00); default: now")
    run.set_defaults(func=cmd_run)

    from pipeline.tasks import TRAIN_COMMANDS

    train = sub.add_parser("train", help="train a stage: " + ", ".join(TRAIN_COMMANDS))
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
    serve.add_argument("--engine", choices=["local", "ray"], default="local",
                       help="ray: the same API from replicas on Ray Serve (pip install 'duihua[ray]')")
    serve.add_argument("--replicas", type=int, help="--engine ray: replicas, each with one pipeline (2)")
    serve.add_argument("--address", help="--engine ray: a running Ray cluster (default: start one)")
    serve.set_defaults(func=cmd_serve)

    lex = sub.add_parser("lexicon", help="build, inspect or query the domain lexicons")
    lex.add_argument("action", choices=["build", "stats", "lookup"])
    lex.add_argument("args", nargs="*", help="WORD for lookup, and/or Hydra overrides")
    lex.add_argument("--data", help="source data folder for build (default: paths.data)")
    lex.add_argument("--out", help="output folder for build (default: paths.lexicons)")
    lex.set_defaults(func=cmd_lexicon)
    return parser


def parse_intermixed(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse with overrides and text anywhere among the options (`run reply=none --compact 北京`).

    argparse fills a positional list once, up to the first option, so positionals after an option arrive as
    unknown arguments; they join ``args`` in order (``split_overrides`` tells overrides from text there).
    ``parse_intermixed_args`` would do this, but it refuses parsers with subcommands. Unknown options stay
    errors.
    """
    args, extra = parser.parse_known_args(argv)
    cut = extra.index("--") if "--" in extra else len(extra)  # after `--` everything is text: `-- -5度`
    unknown = [a for a in extra[:cut] if a.startswith("-") and a != "-"]
    extra = extra[:cut] + extra[cut + 1:]
    if unknown or (extra and not hasattr(args, "args")):
        parser.error(f"unrecognized arguments: {' '.join(unknown or extra)}")
    if extra:
        args.args = [*args.args, *extra]
    return args


def reopen_closed_log_streams(loggers: Sequence[str] = ("", "transformers")) -> None:
    """Point stream handlers whose stream has been closed at the current ``sys.stderr``.

    Why: ``logging.basicConfig`` and transformers bind ``sys.stderr`` as it was at their first use. When
    ``main()`` runs again in one process after that stream was closed (a caller's redirect, a test's captured
    stderr), every warning became a "--- Logging error ---" traceback instead of the message."""
    for name in loggers:
        for handler in logging.getLogger(name).handlers:
            if isinstance(handler, logging.StreamHandler) and getattr(handler.stream, "closed", False):
                with handler.lock:   # not setStream: it flushes the closed stream first
                    handler.stream = sys.stderr
                    handler.__dict__.pop("flush", None)   # transformers pins the first stream's flush too


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parse_intermixed(parser, argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    reopen_closed_log_streams()
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
