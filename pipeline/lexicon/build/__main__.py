"""Command line: ``python -m pipeline.lexicon.build [--report] [--domains NAME ...] [--data-dir DIR] [--out-dir DIR]``.

Builds the shipped domains (or the named ones) from ``../shared/data`` into ``lexicons/`` by default and prints
the entry counts and drop totals, or with ``--report`` Markdown tables of counts and of what each rule dropped.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from pipeline.errors import LexiconError
from pipeline.lexicon import build
from pipeline.lexicon.build import BUILDERS, SHIPPED_DOMAINS, run_build
from pipeline.resources import data_root


def main(argv: list[str] | None = None) -> int:
    root = data_root()  # the checkout, an installed wheel's data or DUIHUA_ROOT, as conf/paths resolves it
    parser = argparse.ArgumentParser(description=build.__doc__.split("\n")[0])
    parser.add_argument("--data-dir", type=Path, default=Path(os.environ.get("DUIHUA_DATA",
                                                                           root.parent / "shared" / "data")))
    parser.add_argument("--out-dir", type=Path, default=root / "lexicons")
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument("--report", action="store_true", help="print Markdown tables of counts and drops")
    parser.add_argument(
        "--domains",
        nargs="+",
        default=list(SHIPPED_DOMAINS),
        metavar="NAME",
        help=f"domains to build (default: the shipped ones; also available: "
        f"{', '.join(sorted(set(BUILDERS) - set(SHIPPED_DOMAINS)))})",
    )
    args = parser.parse_args(argv)
    try:
        report = run_build(args.data_dir, args.out_dir, progress=not args.no_progress, names=args.domains)
    except LexiconError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.report:
        print(report.markdown())
    else:
        for domain, slots in report.counts.items():
            print(domain, ", ".join(f"{slot}={n}" for slot, n in slots.items()))
        print("dropped:", ", ".join(f"{rule}={n}" for rule, n in report.rule_totals().items()))
    print(f"built {sum(map(len, report.counts.values()))} slot types in {report.seconds:.1f}s -> {args.out_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
