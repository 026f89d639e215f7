"""Warm job starts: a job container forked from the run's warm process behaves as a new process of its own."""
from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import pytest

from pipelines.local.warm import WarmStarter, enabled

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="warm starts fork: Linux only")


@pytest.fixture(scope="module")
def warm():
    starter = WarmStarter().start()
    deadline = time.monotonic() + 120
    while not starter.ready and time.monotonic() < deadline:
        time.sleep(0.1)
    assert starter.ready, "the warm process did not finish importing"
    yield starter
    starter.close()


def job_environment(**extra) -> dict[str, str]:
    return {**os.environ, "PYTHONHASHSEED": "0", "PYTHONUNBUFFERED": "1", **extra}


def finish(process) -> tuple[int, str, str]:
    out, err = process.stdout.read(), process.stderr.read()
    return process.wait(timeout=60), out, err


def test_a_warm_job_runs_in_its_folder_with_its_environment_and_arguments(warm, tmp_path):
    root = tmp_path / "ml"
    raw = root / "processing" / "input" / "raw"
    raw.mkdir(parents=True)
    (raw / "batch.csv").write_text("id,text\n1,hola que tal\n2,\n", encoding="utf-8")
    process = warm.spawn(["tweetops", "validate", "--output", "out"], tmp_path, job_environment(TWEETOPS_ML_ROOT=str(root)))
    assert process is not None
    code, out, err = finish(process)
    assert code == 0, err
    assert "rows in 2: accepted 1, quarantined 1" in out
    assert (tmp_path / "out" / "ingested").is_dir()  # the relative --output, in the job's folder


def test_a_failing_warm_job_gives_its_exit_code_and_its_error(warm, tmp_path):
    code, out, err = finish(warm.spawn(["tweetops", "validate", "--no-such-option"], tmp_path, job_environment()))
    assert code == 2
    assert "No such option" in err


def test_a_killed_warm_job_ends_with_the_signal(warm, tmp_path):
    process = warm.spawn(["tweetops", "demo-data", "--rows", "5000000", "--out", "big.jsonl"], tmp_path,
                         job_environment())
    time.sleep(1)
    process.kill()
    assert process.wait(timeout=30) == -9
    process.stdout.close()
    process.stderr.close()


def test_jobs_end_independently_and_each_keeps_its_own_output(warm, tmp_path):
    processes = [warm.spawn(["tweetops", "demo-data", "--rows", str(rows), "--out", f"{rows}.jsonl"], tmp_path,
                            job_environment()) for rows in (10, 20, 30)]
    results = [finish(process) for process in processes]
    assert [code for code, _, _ in results] == [0, 0, 0]
    assert [(tmp_path / f"{rows}.jsonl").read_bytes().count(b"\n") for rows in (10, 20, 30)] == [10, 20, 30]


def test_only_the_images_entry_points_with_the_jobs_hash_seed_start_warm(warm, tmp_path):
    assert warm.spawn([sys.executable, "-c", "print(1)"], tmp_path, job_environment()) is None
    assert warm.spawn(["tweetops", "--version"], tmp_path, job_environment(PYTHONHASHSEED="1")) is None


def test_the_warm_process_has_not_loaded_torch(warm):
    maps = Path(f"/proc/{warm.process.pid}/maps").read_text()
    assert "libtorch" not in maps
    assert "spacy" in maps or "thinc" in maps  # the stack it is there for is loaded


def test_once_ready_the_warm_process_imports_what_later_steps_use_while_idle(warm, tmp_path):
    deadline = time.monotonic() + 60
    while "onnxruntime" not in Path(f"/proc/{warm.process.pid}/maps").read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    maps = Path(f"/proc/{warm.process.pid}/maps").read_text()
    assert "onnxruntime" in maps and "matplotlib" in maps  # the report page's and the embedding sample's stacks
    code, out, err = finish(warm.spawn(["tweetops", "--version"], tmp_path, job_environment()))
    assert code == 0, err  # and it still starts jobs


def test_warm_starts_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("TWEETOPS_WARM_JOBS", "0")
    assert not enabled()
