"""Cleaning throughput (messages/second) on real data, for 1 and 2 worker processes; `--check`: same output as
the cleaner before issue 18's speed-up on all of ../shared/data, the demo data and the hostile corpus.

Run from the repository root: `python -m benchmarks.cleaning [--repeats N] [--scale K]`, or
`python -m benchmarks.cleaning --check` (needs the git history for the old cleaner), or `--digest` (the digest
tests/processing/test_clean_equivalence.py stores, computed with the old cleaner).
Reads ../shared/data (banking77 English, coset Spanish); exits cleanly when it is absent.
Pipelines and lexicons are loaded by a warm-up before timing, as in a long-running processing job; the
n_process=2 figures include the cost of starting the workers, which every call pays.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import multiprocessing
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Callable, Iterator

import pandas as pd

from processing import clean
from processing.clean import PARALLEL_MIN_MESSAGES, clean_messages, preload, usable_cpus

from benchmarks import SHARED_DATA, shared_data_missing
DATASETS = (("banking77", "train.csv", "en"), ("coset", "train.csv", "es"))
REPO = Path(__file__).resolve().parents[1]
OLD_CLEANER_COMMIT = "883abc3"  # processing/clean.py as it was before the chunk cache (one spaCy Doc per message)
LANG_PATHS = ("es", "en", "other")
# The digest subset: small enough that the test cleans it in a few seconds, every language path.
DIGEST_FILES = ("coset/dev.csv", "coset/test.csv", "banking77/test.csv")
DEMO_ROWS, DEMO_SEED = 3_000, 18


def load_dataset(folder: str, filename: str, lang: str) -> pd.DataFrame:
    """The dataset's id and text with the given language; the gold label is not read."""
    frame = pd.read_csv(SHARED_DATA / folder / filename, usecols=["id", "text"], dtype=str)
    return frame.assign(lang=lang)


def throughputs(frame: pd.DataFrame, n_processes: tuple[int, ...], repeats: int) -> list[float]:
    """Messages/second per n_process: best of `repeats` runs, interleaved so both face the same machine load."""
    best = [float("inf")] * len(n_processes)
    for _ in range(repeats):
        for k, n_process in enumerate(n_processes):
            start = time.perf_counter()
            out = clean_messages(frame, n_process=n_process)
            best[k] = min(best[k], time.perf_counter() - start)
            assert len(out) == len(frame)
    return [len(frame) / seconds for seconds in best]


def _spin(n: int) -> int:
    """Pure-Python CPU work for the headroom probe."""
    return sum(i * i for i in range(n))


def cpu_headroom(n: int = 3_000_000) -> float:
    """Speed-up of two processes over one on fixed CPU work: the ceiling for n_process=2 on this machine now."""
    start = time.perf_counter()
    _spin(n), _spin(n)
    serial = time.perf_counter() - start
    with multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn").Pool(2) as pool:
        start = time.perf_counter()
        pool.map(_spin, [n, n])
        parallel = time.perf_counter() - start
    return serial / parallel


# --- --check: the cleaner's output is unchanged --------------------------------------------------------
def load_old_cleaner(commit: str = OLD_CLEANER_COMMIT) -> ModuleType:
    """processing/clean.py as of `commit` (from git), imported from a temporary folder as a module of its own."""
    source = subprocess.run(["git", "show", f"{commit}:processing/clean.py"], cwd=REPO, capture_output=True,
                            text=True, check=True).stdout
    path = Path(tempfile.mkdtemp(prefix="tweetops-clean-")) / f"clean_{commit}.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(f"clean_{commit}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def with_lang(texts: pd.Series, lang: str) -> pd.DataFrame:
    """A cleaner input of `texts` in one language path; "other" as the serving handler sends it (no lang column)."""
    frame = pd.DataFrame({"text": texts.reset_index(drop=True)})
    return frame if lang == "other" else frame.assign(lang=lang)


def shared_frames(files: Iterator[Path] | None = None) -> Iterator[tuple[str, str, pd.DataFrame]]:
    """(source, lang path, input frame): every CSV of ../shared/data under es, en and other, plus its own lang."""
    for path in files if files is not None else sorted(SHARED_DATA.rglob("*.csv")):
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        name = str(path.relative_to(SHARED_DATA))
        for lang in LANG_PATHS:
            yield name, lang, with_lang(frame["text"], lang)
        if "lang" in frame.columns:
            yield name, "own", frame[["text", "lang"]]


def demo_frames() -> Iterator[tuple[str, str, pd.DataFrame]]:
    """(source, lang path, input frame): demo messages (malformed rows included) and every scenario, raw as
    generated, under their own lang and each language path."""
    from processing.demo_data import generate_messages
    from processing.demo_scenarios import SCENARIOS, generate_scenario

    sources = [("demo", generate_messages(DEMO_ROWS, seed=DEMO_SEED, include_lang=True))]
    sources += [(f"demo:{name}", generate_scenario(name, DEMO_ROWS // 3, seed=DEMO_SEED, include_lang=True))
                for name in SCENARIOS]
    for name, frame in sources:
        yield name, "own", frame[["text", "lang"]]
        for lang in LANG_PATHS:
            yield name, lang, with_lang(frame["text"], lang)


def hostile_texts() -> pd.Series:
    """Every text of tests/hostile_corpus.py: the records each file gives, and each line of each file as text."""
    from processing.ingest import IngestError, read_messages
    from tests.hostile_corpus import write_hostile_corpus

    texts = []
    with tempfile.TemporaryDirectory() as folder:
        for path in write_hostile_corpus(folder).values():
            try:
                records = read_messages(path).records
                texts += records["text"].tolist() if "text" in records.columns else []
            except IngestError:
                pass
            texts += path.read_bytes().decode("utf-8", errors="replace").splitlines()
    return pd.Series(texts, dtype=object)


def is_valid_unicode(text: object) -> bool:
    """False for a str holding lone surrogates (the corpus's undecodable bytes, decoded with surrogateescape)."""
    try:
        str(text).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


HOSTILE_FULL_MAX_CHARS = 30_000  # longer texts: normalisation compared, the spaCy stage not (see hostile_frames)


def hostile_frames() -> tuple[list[tuple[str, str, pd.DataFrame]], pd.Series]:
    """The hostile corpus's check frames (source, lang path, input frame) under each language path, and its texts
    too long to clean whole. A text with lone surrogates (pandas refuses the whole frame for it) gets a frame of
    its own, so that the rest is compared row by row and its refusal is compared. Texts over
    HOSTILE_FULL_MAX_CHARS (the 100,000-bracket and 1,000,000-character cases) make spaCy's tokenizer run for
    many minutes in the old cleaner and the new alike (its suffix search rescans the rest of a chunk after each
    prefix), and validation refuses anything over 1,000 characters before cleaning; they are returned apart."""
    texts = hostile_texts()
    valid = texts.map(is_valid_unicode)
    short = texts.map(lambda text: len(str(text)) <= HOSTILE_FULL_MAX_CHARS)
    frames = []
    for lang in LANG_PATHS:
        frames.append(("hostile corpus", lang, with_lang(texts[valid & short], lang)))
        frames += [(f"hostile corpus, text {i}", lang, with_lang(texts[[i]], lang)) for i in texts.index[~valid]]
    return frames, texts[valid & ~short]


def normalisation_mismatches(old_cleaner: ModuleType, texts: pd.Series) -> int:
    """Texts whose normalise_text result differs between the old and the new cleaner, under each language path."""
    return sum(old_cleaner.normalise_text(str(text), lang) != clean.normalise_text(str(text), lang)
               for text in texts for lang in LANG_PATHS)


def output_digest(frames: list[pd.DataFrame], cleaner: Callable[[pd.DataFrame], pd.DataFrame]) -> tuple[str, int]:
    """sha256 of the OUTPUT_COLUMNS of `cleaner` over `frames` (a JSON line per row, in order) and the row count."""
    digest, rows = hashlib.sha256(), 0
    for frame in frames:
        out = cleaner(frame)
        for values in zip(*(out[column].tolist() for column in clean.OUTPUT_COLUMNS)):
            digest.update(json.dumps(values, ensure_ascii=False).encode("utf-8") + b"\n")
            rows += 1
    return digest.hexdigest(), rows


def digest_frames() -> list[pd.DataFrame]:
    """The inputs of the stored digest: DIGEST_FILES under each language path."""
    return [frame for _, _, frame in shared_frames(SHARED_DATA / name for name in DIGEST_FILES)]


def mismatched_rows(old: pd.DataFrame, new: pd.DataFrame) -> list[tuple[int, str]]:
    """(row position, column) of every output value that differs."""
    return [(i, column) for column in clean.OUTPUT_COLUMNS
            for i, (a, b) in enumerate(zip(old[column].tolist(), new[column].tolist())) if a != b or type(a) != type(b)]


def outcome(cleaner: Callable[[pd.DataFrame], pd.DataFrame], frame: pd.DataFrame) -> pd.DataFrame | str:
    """The cleaned frame, or the error the cleaner raised as "Type: message" (a refusal must stay the same)."""
    try:
        return cleaner(frame)
    except Exception as error:  # noqa: BLE001 - compared, then reported
        return f"{type(error).__name__}: {error}"


NEW_RUNS = ("new cold", "new warm")  # the new cleaner with its token caches emptied first, then again


def run_new(frame: pd.DataFrame, run: str) -> pd.DataFrame | str:
    """The new cleaner's outcome on `frame`, its caches emptied first for the "new cold" run."""
    if run == "new cold":
        clean.clear_token_caches()
    return outcome(clean_messages, frame)


def equivalence(old_cleaner: ModuleType, frames: list[tuple[str, str, pd.DataFrame]]) -> int:
    """Compare every output value of the old and the new cleaner (cold and warm) on each frame; print a line each."""
    rows = mismatches = 0
    print(f"{'source':<30}{'lang':>6}{'rows':>8}  mismatched values (new cold, new warm)")
    for source, lang, frame in frames:
        expected = outcome(old_cleaner.clean_messages, frame)
        counts = []
        for run in NEW_RUNS:
            found = run_new(frame, run)
            if isinstance(expected, str) or isinstance(found, str):  # a refusal must be the same refusal
                counts.append(int(found != expected))
                print(f"  {source} {lang} {run}: old refused ({expected[:80]}...); "
                      f"new {'the same' if found == expected else found}")
                continue
            differences = mismatched_rows(expected, found)
            counts.append(len(differences))
            for i, column in differences[:3]:
                print(f"  MISMATCH {source} {lang} {run} row {i} {column}: {expected[column].iloc[i]!r} != "
                      f"{found[column].iloc[i]!r}")
        rows += len(frame)
        mismatches += sum(counts)
        print(f"{source:<30}{lang:>6}{len(frame):>8,}  {counts[0]}, {counts[1]}")
    print(f"rows compared: {rows:,} (each cleaned by the old cleaner and twice by the new one); "
          f"mismatched values: {mismatches}")
    return mismatches


def speed(old_cleaner: ModuleType, repeats: int) -> None:
    """CPU microseconds per message, old vs new (cold and warm), per language path on banking77, coset, demo."""
    from processing.demo_data import generate_messages

    sources = [("banking77 train", read_dataset_texts("banking77/train.csv")),
               ("coset train", read_dataset_texts("coset/train.csv")),
               (f"demo {DEMO_ROWS:,}", generate_messages(DEMO_ROWS, seed=DEMO_SEED)["text"])]
    print(f"\nCPU time per message (process time, best of {repeats}, old and new interleaved in the same run; the "
          f"machine may be shared with other jobs):")
    print(f"{'source':<18}{'lang':>6}{'messages':>10}{'old us':>9}{'cold us':>9}{'warm us':>9}"
          f"{'old msg/s':>11}{'warm msg/s':>11}{'speed-up cold/warm':>20}")
    for name, texts in sources:
        for lang in LANG_PATHS:
            frame = with_lang(texts, lang)
            best = {run: float("inf") for run in ("old", *NEW_RUNS)}
            for _ in range(repeats):
                for run in best:
                    start = time.process_time()
                    outcome(old_cleaner.clean_messages, frame) if run == "old" else run_new(frame, run)
                    best[run] = min(best[run], time.process_time() - start)
            old, cold, warm = (best[run] / len(frame) * 1e6 for run in ("old", *NEW_RUNS))
            print(f"{name:<18}{lang:>6}{len(frame):>10,}{old:>9.1f}{cold:>9.1f}{warm:>9.1f}"
                  f"{1e6 / old:>11,.0f}{1e6 / warm:>11,.0f}{old / cold:>13.1f}x /{old / warm:>4.1f}x")


def read_dataset_texts(name: str) -> pd.Series:
    """The text column of a CSV under ../shared/data."""
    return pd.read_csv(SHARED_DATA / name, usecols=["text"], dtype=str, keep_default_na=False)["text"]


def check(old_cleaner: ModuleType, repeats: int) -> int:
    """Equivalence on every check frame, then the speed table; exit status 1 when any value differs."""
    old_cleaner.preload(LANG_PATHS)
    preload(LANG_PATHS)
    hostile, too_long = hostile_frames()
    mismatches = equivalence(old_cleaner, [*shared_frames(), *demo_frames(), *hostile])
    long_mismatches = normalisation_mismatches(old_cleaner, too_long)
    print(f"hostile texts over {HOSTILE_FULL_MAX_CHARS:,} characters ({len(too_long)}, lengths "
          f"{', '.join(f'{len(str(text)):,}' for text in too_long)}): normalise_text compared under each path, "
          f"mismatches: {long_mismatches}")
    mismatches += long_mismatches
    speed(old_cleaner, repeats)
    return 1 if mismatches else 0


def main(argv: list[str] | None = None) -> int:
    """Print a table of msgs/s per dataset and n_process; the --scale rows repeat the data to show large batches."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per cell (the best is reported)")
    parser.add_argument("--scale", type=int, default=4, help="also time banking77 repeated this many times (0: skip)")
    parser.add_argument("--check", action="store_true",
                        help=f"compare with the cleaner of commit {OLD_CLEANER_COMMIT} on all data, and time both")
    parser.add_argument("--digest", action="store_true",
                        help=f"print the digest of the {OLD_CLEANER_COMMIT} cleaner's output on the test's subset")
    args = parser.parse_args(argv)
    if shared_data_missing():
        return 0
    if args.check or args.digest:
        try:
            old_cleaner = load_old_cleaner()
        except subprocess.CalledProcessError as error:
            print(f"cannot read the old cleaner from git: {error.stderr.strip().splitlines()[-1]}", file=sys.stderr)
            return 2
        if args.digest:
            digest, rows = output_digest(digest_frames(), old_cleaner.clean_messages)
            print(f"{OLD_CLEANER_COMMIT} cleaner on {', '.join(DIGEST_FILES)} x {', '.join(LANG_PATHS)}: "
                  f"{rows:,} rows, sha256 {digest}")
            return 0
        return check(old_cleaner, min(args.repeats, 3))

    frames = [(f"{folder} ({lang})", load_dataset(folder, filename, lang)) for folder, filename, lang in DATASETS]
    if args.scale > 1:
        big = pd.concat([frames[0][1]] * args.scale, ignore_index=True)
        frames.append((f"banking77 x{args.scale} (en)", big))
    preload(lang for _, _, lang in DATASETS)

    print(f"usable cpus: {usable_cpus()}  repeats: {args.repeats}  default n_process=1; 'auto' starts one "
          f"worker per {PARALLEL_MIN_MESSAGES:,} messages, up to the usable cpus")
    print(f"CPU headroom before: 2 processes run pure-Python work {cpu_headroom():.2f}x as fast as 1 "
          "(2.0 on two idle cores, less when other jobs share them)")
    print(f"{'dataset':<22}{'messages':>10}{'n_process=1':>14}{'n_process=2':>14}{'speed-up':>10}")
    for name, frame in frames:
        single, double = throughputs(frame, (1, 2), args.repeats)
        print(f"{name:<22}{len(frame):>10,}{single:>12,.0f}/s{double:>12,.0f}/s{double / single:>9.2f}x")
    print(f"CPU headroom after: {cpu_headroom():.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
