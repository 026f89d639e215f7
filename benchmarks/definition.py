"""Build time and size of the training pipeline definition (offline, no AWS call).

Run from the repository root: `python -m benchmarks.definition [--repeats N]`. Imports are timed once
(first build in a fresh process), then builds are repeated in-process; the definition of every build is
compared byte for byte with the first.
"""
from __future__ import annotations

import argparse
import sys
import time


def main(argv: list[str] | None = None) -> int:
    """Print import time, build + definition() time (best and median), size, and whether all builds agree."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.definition", description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    from pipelines import operations
    from pipelines.settings import PipelineSettings
    import pipelines.training_pipeline  # noqa: F401  (the SDK import is most of the first build)
    imported = time.perf_counter() - start

    settings = PipelineSettings(role_arn="arn:aws:iam::123456789012:role/tweetops-execution")
    timings, documents = [], []
    for _ in range(args.repeats):
        start = time.perf_counter()
        documents.append(operations.definition(settings))
        timings.append(time.perf_counter() - start)
    timings.sort()
    print(f"import {imported:.2f} s; build + definition() best {timings[0]:.2f} s, "
          f"median {timings[len(timings) // 2]:.2f} s over {args.repeats}; "
          f"size {len(documents[0].encode()):,} bytes; identical across builds: {len(set(documents)) == 1}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
