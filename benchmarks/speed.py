"""Wall time and peak memory of `tweetops run-local` on generated demo data, the executor's own overhead,
inference throughput, and `tweetops predict` on a large batch.

Run from the repository root: `python -m benchmarks.speed [--rows 10000 100000]`. Each run is a child process
exactly as a user starts it, in a fresh home (no cache). Peak memory is sampled from /proc as the resident
memory of the whole process tree (executor plus the jobs it runs) every 0.1 s; the largest single process
(getrusage) is printed too. Executor overhead = wall time minus the time the jobs' containers ran.
Inference throughput runs the serving handlers (input_fn -> predict_fn -> output_fn) of the trained model
in-process on fresh demo messages, as batch transform feeds them (6 MB JSON Lines payloads).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def tree_rss_mib(root_pid: int) -> float:
    """Resident memory of a process and all its descendants (Linux /proc), in MiB."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
            rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (OSError, IndexError, ValueError):
            continue  # the process ended while we looked
    total, stack = 0, [root_pid]
    while stack:
        pid = stack.pop()
        total += rss.get(pid, 0)
        stack.extend(children.get(pid, []))
    return total / 2**20


def run_local(home: Path, rows: int) -> dict:
    """One `tweetops run-local` on `rows` demo messages: wall seconds, peak tree memory, the execution record."""
    result = measured([sys.executable, "-m", "pipelines.cli", "run-local", "--home", str(home), "--demo-rows", str(rows)])
    (execution,) = [json.loads(path.read_text()) for path in (home / "executions").glob("*/execution.json")]
    return {"rows": rows, **result, "execution": execution}


def predict(home: Path, rows: int, seed: int = 11) -> dict:
    """`tweetops predict` on `rows` fresh demo messages with the home's package, approved first."""
    from processing.demo_data import generate_messages, write_demo_data
    from register.local import LocalModelRegistry

    registry = LocalModelRegistry(home / "registry.db")
    (package,) = registry.list_model_packages("tweetops-message-classifier")
    registry.update_model_package(package["ModelPackageArn"], "Approved", "approved by benchmarks.speed")
    batch = home / f"batch-{rows}.jsonl"
    write_demo_data(generate_messages(rows, seed=seed), batch)
    return {"rows": rows, **measured([sys.executable, "-m", "pipelines.cli", "predict", "--home", str(home),
                                      "--input", str(batch)])}


def measured(command: list[str]) -> dict:
    """Run a command as a child process: wall seconds and peak memory of its process tree."""
    peak = 0.0
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_rss_mib(process.pid))
            done.wait(0.1)

    sampler = threading.Thread(target=sample)
    sampler.start()
    output = process.communicate()[0]
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command[2:4])} failed:\n{output[-3000:]}")
    return {"seconds": seconds, "peak_tree_mib": peak}


def inference_throughput(home: Path, rows: int, seed: int = 7) -> tuple[float, int]:
    """Messages per second through the serving handlers of the model the run trained (model load excluded)."""
    import tarfile

    from inference import handlers
    from pipelines.local.serving import payloads
    from pipelines.local.store import LocalStore
    from processing.demo_data import generate_messages

    (execution,) = list((home / "executions").glob("*"))
    properties = json.loads((execution / "steps" / "Train" / "properties.json").read_text())
    model_dir = home / "benchmark-model"
    with tarfile.open(LocalStore(home / "s3").path(properties["ModelArtifacts"]["S3ModelArtifacts"])) as archive:
        archive.extractall(model_dir, filter="data")
    model = handlers.model_fn(str(model_dir))
    messages = generate_messages(rows, seed=seed, malformed_share=0.0)[["id", "text"]]
    lines = messages.to_json(orient="records", lines=True, force_ascii=False).splitlines()
    started = time.perf_counter()
    for group in payloads(lines, "MultiRecord", 6 * 2**20):
        handlers.output_fn(handlers.predict_fn(handlers.input_fn("\n".join(group), "application/jsonlines"), model))
    return rows / (time.perf_counter() - started), rows


class PlainScoring:
    """A classifier scored the plain scikit-learn way: pipeline_.predict_proba, then the word TF-IDF again for the
    novelty test (how MessageClassifier scored before the fast path), for comparisons in the same run."""

    def __init__(self, classifier):
        self.classifier, self.classes_ = classifier, classifier.classes_

    def score(self, texts: list[str]):
        from sklearn.preprocessing import normalize

        words = self.classifier.pipeline_.named_steps["features"].transformer_list[0][1]
        return (self.classifier.pipeline_.predict_proba(texts),
                self.classifier._novel(normalize(words.transform(texts))))


def serving_fast_vs_plain(model_dir: Path, rows: int, seed: int = 7, rounds: int = 2) -> dict:
    """Messages per second through the serving handlers (model loaded, JSON Lines payloads of MaxPayloadInMB 6),
    scoring with the fast path and with the plain scikit-learn path, alternated in this process (best of `rounds`);
    `identical` says whether both gave the same response bodies."""
    from inference import handlers
    from pipelines.local.serving import payloads
    from processing.demo_data import generate_messages

    fast = handlers.model_fn(str(model_dir))
    plain = handlers.LoadedModel(PlainScoring(fast.classifier), fast.metadata)
    messages = generate_messages(rows, seed=seed, malformed_share=0.0)[["id", "text"]]
    lines = messages.to_json(orient="records", lines=True, force_ascii=False).splitlines()
    groups = payloads(lines, "MultiRecord", 6 * 2**20)

    def serve(model) -> tuple[float, list[str]]:
        started = time.perf_counter()
        bodies = [handlers.output_fn(handlers.predict_fn(handlers.input_fn("\n".join(group), "application/jsonlines"),
                                                         model))[0] for group in groups]
        return time.perf_counter() - started, bodies

    seconds, outputs = {"fast": [], "plain": []}, {}
    for _ in range(rounds):
        for name, model in (("plain", plain), ("fast", fast)):
            elapsed, outputs[name] = serve(model)
            seconds[name].append(elapsed)
    return {"rows": rows, "fast_per_s": rows / min(seconds["fast"]), "plain_per_s": rows / min(seconds["plain"]),
            "identical": outputs["fast"] == outputs["plain"]}


def main(argv: list[str] | None = None) -> int:
    """Print a table of run-local wall time, peak memory and overhead, then inference throughput."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.speed", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--inference-rows", type=int, default=20_000)
    parser.add_argument("--predict-rows", type=int, default=100_000, help="batch size for `tweetops predict`")
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory(prefix="tweetops-speed-") as tmp:
        for rows in args.rows:
            home = Path(tmp) / f"home-{rows}"
            print(f"run-local on {rows:,} demo messages ...", file=sys.stderr, flush=True)
            results.append(run_local(home, rows))
        throughput, inference_rows = inference_throughput(Path(tmp) / f"home-{args.rows[0]}", args.inference_rows)
        print(f"predict on {args.predict_rows:,} demo messages ...", file=sys.stderr, flush=True)
        scored = predict(Path(tmp) / f"home-{args.rows[0]}", args.predict_rows)
    max_single = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    print(f"\nrun-local on generated demo data; {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    print(f"{'messages':>9} | {'wall s':>7} | {'peak MiB':>8} | {'jobs s':>7} | {'overhead s':>10} | {'overhead %':>10}")
    for result in results:
        jobs = sum(step.get("JobSeconds", 0) for step in result["execution"]["Steps"])
        overhead = result["seconds"] - jobs
        print(f"{result['rows']:>9,} | {result['seconds']:>7.1f} | {result['peak_tree_mib']:>8.0f} | {jobs:>7.1f} | "
              f"{overhead:>10.1f} | {100 * overhead / result['seconds']:>9.1f}%")
    print("\nper step (seconds): " + ", ".join(
        f"{step['StepName']}" for step in results[0]["execution"]["Steps"]))
    for result in results:
        print(f"{result['rows']:>9,}: " + ", ".join(f"{step.get('Seconds', 0):.1f}" for step in result["execution"]["Steps"]))
    print(f"\nlargest single process: {max_single:.0f} MiB")
    print(f"inference (serving handlers, in-process, model loaded): {throughput:,.0f} messages/s on "
          f"{inference_rows:,} messages")
    print(f"tweetops predict (model of the {args.rows[0]:,}-message run) on {scored['rows']:,} messages: wall "
          f"{scored['seconds']:.1f} s, {scored['rows'] / scored['seconds']:,.0f} messages/s end to end, peak "
          f"{scored['peak_tree_mib']:.0f} MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
