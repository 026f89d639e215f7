"""Speed and memory of scoring and training, end to end as a user runs them, beside the figures before issue 18.

`python -m benchmarks.speed` runs, in one invocation and each in a fresh home (no cache):
  * run-local on 100,000 generated messages with --param Featurizer=tfidf and with the default featurizer, and on
    1,000,000 (TF-IDF; `--skip-million` leaves it out);
  * `tweetops predict` end to end on 2,000 and on 100,000 fresh messages with the default run's package;
  * the serving handlers in-process (input_fn -> predict_fn -> output_fn, 6 MB JSON Lines payloads, model loaded),
    with the fast scoring path and with the plain scikit-learn path, alternated, and whether their bodies are equal;
  * the reference a user would write by hand: scikit-learn TfidfVectorizer + LinearSVC fitted on the same
    pseudo-labelled training messages, `predict` on the same cleaned texts as our classifier's `score`.
Each command runs as a child process exactly as a user starts it. Wall time; CPU time (user + system of the whole
process tree, from getrusage of reaped children); peak memory sampled every 0.2 s over the process tree as
proportional set size (Pss: pages that forked job processes share with their warm parent counted once; resident
size where /proc has no smaps_rollup).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pandas as pd


OLD = {  # the landed code before issue 18, same machine (2 cores), as the issue states them
    "run-local 100k default": {"seconds": 355, "peak_mib": 3.2 * 1024},
    "predict 100k": {"seconds": 100_000 / 2_201},
    "predict 2k": {"seconds": 28},
    "handlers": {"per_s": 5_700},
}


def process_memory_mib(pid: int) -> float:
    """Memory of one process in MiB: its Pss from smaps_rollup, else its resident size."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as handle:
            return next(int(line.split()[1]) for line in handle if line.startswith("Pss:")) / 1024
    except (OSError, StopIteration, ValueError):
        with open(f"/proc/{pid}/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def tree_memory_mib(root_pid: int) -> float:
    """Memory of a process and all its descendants (Linux /proc), in MiB: the sum of their Pss."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as handle:
                    children.setdefault(int(handle.read().rsplit(")", 1)[1].split()[1]), []).append(int(entry))
            except (OSError, IndexError, ValueError):
                continue  # the process ended while we looked
    total, stack = 0.0, [root_pid]
    while stack:  # only the tree's own processes are read in full (smaps_rollup walks a process's memory map)
        pid = stack.pop()
        try:
            total += process_memory_mib(pid)
        except OSError:
            continue
        stack.extend(children.get(pid, []))
    return total


def measured(command: list[str], interval: float = 0.2) -> dict:
    """Run a command as a child process: wall seconds, CPU seconds and peak memory of its process tree."""
    peak = 0.0
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, tree_memory_mib(process.pid))
            done.wait(interval)

    sampler = threading.Thread(target=sample)
    sampler.start()
    output = process.communicate()[0]
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command[2:4])} failed:\n{output[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"seconds": seconds, "cpu_seconds": cpu, "peak_tree_mib": peak, "output": output}


def run_local(home: Path, rows: int, featurizer: str | None = None) -> dict:
    """One `tweetops run-local` on `rows` demo messages (default featurizer unless given): figures and the record."""
    params = ["--param", f"Featurizer={featurizer}"] if featurizer else []
    result = measured([sys.executable, "-m", "pipelines.cli", "run-local", "--home", str(home), "--demo-rows",
                       str(rows), *params])
    (execution,) = [json.loads(path.read_text()) for path in (home / "executions").glob("*/execution.json")]
    return {"rows": rows, **result, "execution": execution}


def approve_package(home: Path) -> str:
    """Approve the home's one model package (as an ML engineer would) and return its ARN."""
    from register.local import LocalModelRegistry

    registry = LocalModelRegistry(home / "registry.db")
    (package,) = registry.list_model_packages("tweetops-message-classifier")
    registry.update_model_package(package["ModelPackageArn"], "Approved", "approved by benchmarks.speed")
    return package["ModelPackageArn"]


def predict(home: Path, rows: int, seed: int = 11) -> dict:
    """`tweetops predict` end to end on `rows` fresh demo messages with the home's approved package."""
    from processing.demo_data import generate_messages, write_demo_data

    batch = home / f"batch-{rows}.jsonl"
    write_demo_data(generate_messages(rows, seed=seed), batch)
    return {"rows": rows, **measured([sys.executable, "-m", "pipelines.cli", "predict", "--home", str(home),
                                      "--input", str(batch)])}


def model_dir_of(home: Path) -> Path:
    """The model of the home's package, extracted into <home>/benchmark-model, with its pinned digest in this
    process's environment (as the serving container gets it), so that model_fn verifies and loads it."""
    from pipelines.local.store import LocalStore
    from processing.artifacts import MODEL_DIGEST_VARIABLE, extract_model_archive
    from register.local import LocalModelRegistry

    registry = LocalModelRegistry(home / "registry.db")
    (package,) = registry.list_model_packages("tweetops-message-classifier")
    (container,) = registry.describe_model_package(package["ModelPackageArn"])["InferenceSpecification"]["Containers"]
    os.environ[MODEL_DIGEST_VARIABLE] = container["Environment"][MODEL_DIGEST_VARIABLE]
    model_dir = home / "benchmark-model"
    if not model_dir.is_dir():
        extract_model_archive(LocalStore(home / "s3").path(container["ModelDataUrl"]), model_dir)
    return model_dir


def training_messages(home: Path) -> pd.DataFrame:
    """The run's pseudo-labelled training split (feature_text, label)."""
    from training.train import read_parquet_dir

    (train,) = (home / "executions").glob("*/artifacts/pseudo-labeled/train")  # the one training execution's
    return read_parquet_dir(train)


def hand_written_reference(home: Path, rows: int, seed: int = 7) -> dict:
    """Messages per second of `predict` on the same cleaned texts: our classifier's score (probabilities and novelty)
    vs scikit-learn TfidfVectorizer + LinearSVC fitted on the same training messages (a user's own baseline)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline
    from sklearn.svm import LinearSVC

    from inference import handlers
    from processing.clean import TextCleaner
    from processing.demo_data import generate_messages

    ours = handlers.model_fn(str(model_dir_of(home))).classifier
    train = training_messages(home)  # `category` is the pseudo-label (demo data also carries a hidden gold `label`)
    reference = make_pipeline(TfidfVectorizer(), LinearSVC()).fit(train["feature_text"], train["category"])
    messages = generate_messages(rows, seed=seed, malformed_share=0.0)
    texts = TextCleaner().transform(messages[["text"]])["feature_text"].tolist()
    ours.score(texts[:100])  # the fast path is derived on first use: not part of the rate
    seconds = {}
    for name, run in (("reference", lambda: reference.predict(texts)), ("ours", lambda: ours.score(texts))):
        started = time.perf_counter()
        run()
        seconds[name] = time.perf_counter() - started
    return {"rows": rows, "ours_per_s": rows / seconds["ours"], "reference_per_s": rows / seconds["reference"]}


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


def row_line(name: str, result: dict, old: dict | None) -> str:
    """One printed row: wall, CPU, peak memory and messages per second, beside the old figures."""
    old = old or {}
    rate = result["rows"] / result["seconds"]
    return (f"{name:<28} | {result['seconds']:>7.1f} | {result['cpu_seconds']:>7.1f} | {result['peak_tree_mib']:>8.0f} | "
            f"{rate:>8,.0f} | {old.get('seconds', float('nan')):>10.1f} | {old.get('peak_mib', float('nan')):>12.0f}")


def main(argv: list[str] | None = None) -> int:
    """Run every measurement (module docstring) and print each as it ends, beside the figures before issue 18."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.speed", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000, help="messages of the run-local and predict runs")
    parser.add_argument("--million", type=int, default=1_000_000, help="messages of the large TF-IDF run-local")
    parser.add_argument("--skip-million", action="store_true", help="leave the large run out")
    parser.add_argument("--small-predict", type=int, default=2_000, help="messages of the small predict")
    parser.add_argument("--handler-rows", type=int, default=20_000)
    args = parser.parse_args(argv)
    print(f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}; old = the landed code before issue 18")
    print(f"{'what':<28} | {'wall s':>7} | {'CPU s':>7} | {'peak MiB':>8} | {'msgs/s':>8} | {'old wall s':>10} | "
          f"{'old peak MiB':>12}", flush=True)

    def report(name: str, result: dict, old: dict | None = None) -> None:
        print(row_line(name, result, old), flush=True)
        if "execution" in result:
            print("    steps: " + ", ".join(f"{step['StepName']} {step.get('Seconds', 0):.1f}"
                                          for step in result["execution"]["Steps"]), flush=True)
            # what was trained, so that a figure is never read off a degenerate model (e.g. two categories)
            for line in result["output"].splitlines():
                if line.strip().startswith(("evaluation:", "gold set", "categories:")):
                    print("    " + line.strip().split("; review page")[0], flush=True)

    with tempfile.TemporaryDirectory(prefix="tweetops-speed-") as tmp:
        default_home = Path(tmp) / "default"
        report(f"run-local {args.rows:,} (tfidf)", run_local(Path(tmp) / "tfidf", args.rows, "tfidf"))
        report(f"run-local {args.rows:,} (default)", run_local(default_home, args.rows),
               OLD["run-local 100k default"] if args.rows == 100_000 else None)
        approve_package(default_home)
        for count, old in ((args.small_predict, OLD["predict 2k"] if args.small_predict == 2_000 else None),
                           (args.rows, OLD["predict 100k"] if args.rows == 100_000 else None)):
            report(f"predict {count:,}", predict(default_home, count), old)
        handlers = serving_fast_vs_plain(model_dir_of(default_home), args.handler_rows)
        print(f"serving handlers in-process on {handlers['rows']:,} messages: {handlers['fast_per_s']:,.0f} msgs/s "
              f"(plain scikit-learn scoring in the same run: {handlers['plain_per_s']:,.0f}; before: "
              f"{OLD['handlers']['per_s']:,}); response bodies identical: {handlers['identical']}", flush=True)
        reference = hand_written_reference(default_home, args.rows)
        print(f"predict on {reference['rows']:,} cleaned texts: ours (probabilities + novelty) "
              f"{reference['ours_per_s']:,.0f} msgs/s; hand-written TfidfVectorizer + LinearSVC "
              f"{reference['reference_per_s']:,.0f} msgs/s", flush=True)
        shutil.rmtree(default_home)  # the large run needs the disk
        if not args.skip_million:
            report(f"run-local {args.million:,} (tfidf)", run_local(Path(tmp) / "million", args.million, "tfidf"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
