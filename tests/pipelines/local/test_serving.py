"""The local batch-transform serving container: whatever fails inside it (a corrupt model, a bad record, a bug)
ends the process with exit code 1 and one line, on stderr and in /opt/ml/output/failure; never a traceback."""
import os
import pickle
import subprocess
import sys


def test_a_corrupt_model_ends_serving_with_one_line_and_no_traceback(tmp_path):
    root = tmp_path / "ml"
    model = root / "model"
    (model / "code").mkdir(parents=True)
    (model / "metadata.json").write_text("{}")
    (model / "model.joblib").write_bytes(pickle.dumps(list(range(1000)))[:50])  # truncated: unpickling hits its end
    # What archives carried before serving code came from the image only: the handlers, imported by name.
    (model / "code" / "tweetops_serving.py").write_text(
        "from inference.handlers import input_fn, model_fn, output_fn, predict_fn  # noqa: F401\n")
    (root / "input").mkdir()
    (root / "input" / "batch.jsonl").write_text('{"id": "1", "text": "hola"}\n')
    (root / "output").mkdir()
    environment = {key: value for key, value in os.environ.items() if not key.startswith("SAGEMAKER_")}
    result = subprocess.run(
        [sys.executable, "-m", "pipelines.local.serving", "--model-dir", str(model), "--input", str(root / "input"),
         "--output", str(root / "output"), "--split-type", "Line"],
        capture_output=True, text=True, timeout=300, env={**environment, "TWEETOPS_ML_ROOT": str(root)})
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: ")
    reason = (root / "output" / "failure").read_text()
    assert reason == last.removeprefix("Error: ") and "\n" not in reason
    assert not list((root / "output").glob("*.out"))
