"""``python -m scripts.bench [NAME ...]``: run benchmarks, one JSON object per line on stdout.

Each benchmark is a module ``scripts.bench.<name>`` with ``run() -> dict`` (or a list of them, one
line each: ``claims`` adds its PostgreSQL line); it sets up and tears
down whatever chain or server it measures. Progress goes to stderr so stdout stays JSON lines.
"""

from __future__ import annotations

import importlib
import json
import sys
import time

BENCHMARKS = ("gas", "index", "export", "claims", "dashboard", "faults", "certificate", "demo", "scale")
DEFAULT = tuple(n for n in BENCHMARKS if n != "scale")  # scale runs by name only (docs/decisions/0018)


def main(argv: list[str]) -> int:
    names = argv or list(DEFAULT)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; known: {', '.join(BENCHMARKS)}", file=sys.stderr)
        return 2
    for name in names:
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        started = time.monotonic()
        result = importlib.import_module(f"scripts.bench.{name}").run()
        for line in result if isinstance(result, list) else [result]:  # a bench may print several lines
            print(json.dumps(line, ensure_ascii=False), flush=True)
        print(f"[bench] {name} done in {time.monotonic() - started:.1f} s", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
