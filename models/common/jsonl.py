"""Reading JSON Lines the one way every reader here needs: UTF-8, blank lines skipped, and a line that is not
JSON named by file and line number in a one-line error of the caller's kind."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def read_jsonl(path: Path, error: type[Exception] = ValueError) -> Iterator[tuple[str, Any]]:
    """``("path:line", record)`` for each non-blank line of ``path``; ``error`` is raised for a broken line."""
    for lineno, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{lineno}"
        try:
            yield where, json.loads(line)
        except json.JSONDecodeError as exc:
            raise error(f"{where}: not valid JSON ({exc.msg})") from exc
