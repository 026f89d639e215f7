"""Specification of the serving handlers as SageMaker's scikit-learn container calls them for batch
transform: model_fn -> input_fn -> predict_fn -> output_fn, CSV and JSON Lines, one prediction per record."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pandas as pd
import pytest

from inference.handlers import PREDICTION_COLUMNS, SERVING_MAX_TEXT_CHARS, input_fn, model_fn, output_fn, predict_fn
from processing.artifacts import MODEL_DIGEST_VARIABLE, ArtifactIntegrityError
from processing.contract import QUARANTINE_REASONS


@pytest.fixture(scope="module")
def model_dir(trained_model_dir):
    return trained_model_dir


@pytest.fixture(scope="module")
def model(model_dir):
    with pytest.MonkeyPatch.context() as patch:  # registration pins the digest in the serving environment
        patch.setenv(MODEL_DIGEST_VARIABLE, json.loads((model_dir / "metadata.json").read_text())["model_sha256"])
        return model_fn(str(model_dir))


def test_the_model_is_loaded_only_with_the_digest_pinned_in_the_serving_environment(model_dir, monkeypatch):
    monkeypatch.delenv(MODEL_DIGEST_VARIABLE, raising=False)
    with pytest.raises(ArtifactIntegrityError, match="no trusted sha256"):
        model_fn(str(model_dir))
    monkeypatch.setenv(MODEL_DIGEST_VARIABLE, "0" * 64)
    with pytest.raises(ArtifactIntegrityError, match="model.joblib: refusing to load it: its sha256 is"):
        model_fn(str(model_dir))


def serve(body: str, content_type: str, accept: str, model) -> str:
    """One batch-transform request through the four handlers."""
    out, _ = output_fn(predict_fn(input_fn(body, content_type), model), accept)
    return out


def test_csv_without_header_is_scored_line_by_line(model):
    body = "1,my package never arrived where is my order\n2,quiero cancelar mi suscripción y el reembolso\n"
    predictions = pd.read_csv(pd.io.common.StringIO(serve(body, "text/csv", "text/csv", model)), dtype=str)
    assert predictions.columns.tolist() == list(PREDICTION_COLUMNS)
    assert predictions["id"].tolist() == ["1", "2"]
    assert predictions["category"].tolist() == ["delivery", "cancellation_refund"]
    assert (predictions["category_map_version"] == "2").all()


def test_csv_header_and_commas_inside_text_are_handled(model):
    frame = input_fn('id,text\n7,"hi, my card, it was charged twice"\n8,unquoted, with commas\n', "text/csv")
    assert frame.to_dict("records") == [{"id": "7", "text": "hi, my card, it was charged twice"},
                                        {"id": "8", "text": "unquoted, with commas"}]


def test_json_lines_give_the_prediction_contract(model):
    body = '{"id": "a", "text": "the app crashes every time I open it"}\n\n{"id": 5, "text": "la app no carga"}\n'
    lines = [json.loads(line) for line in serve(body, "application/jsonlines", "application/jsonlines", model)
             .splitlines()]
    assert [line["id"] for line in lines] == ["a", "5"]
    for line in lines:
        assert set(line) == set(PREDICTION_COLUMNS)
        assert line["category"] == "technical_issue" and 0 < line["confidence"] <= 1 and line["novel"] is False
        assert line["model_version"] == model.metadata["model_version"] and line["error"] is None


def test_unscorable_records_keep_their_row_with_an_error(model):
    body = '{"id": "x", "text": "   "}\n{"text": "no id here"}\n{"id": "y", "text": "refund please"}\n'
    predictions = predict_fn(input_fn(body, "application/jsonlines"), model)
    assert len(predictions) == 3
    assert predictions["error"].tolist() == ["empty_text", "missing_id", None]
    assert predictions["category"].isna().tolist() == [True, True, False]
    body, _ = output_fn(predictions, "application/jsonlines")
    assert [json.loads(line)["category"] is None for line in body.splitlines()] == [True, True, False]
    assert "NaN" not in body


def test_a_lone_surrogate_or_an_overlong_text_is_an_error_row_and_the_rest_of_the_payload_is_scored(model):
    overlong = "refund " * (SERVING_MAX_TEXT_CHARS // 7 + 1)
    body = "\n".join(json.dumps(record) for record in (
        {"id": "s", "text": "hola \ud800 mundo"}, {"id": "l", "text": overlong}, {"id": "ok", "text": "refund please"},
        {"id": "i\udc80", "text": "refund please"}))
    assert "\\ud800" in body  # JSON's escape: json.loads gives Python a lone surrogate, which UTF-8 cannot carry
    predictions = predict_fn(input_fn(body, "application/jsonlines"), model)
    assert predictions["error"].tolist() == ["invalid_encoding", "text_too_long", None, "invalid_encoding"]
    assert predictions["category"].isna().tolist() == [True, True, False, True]
    assert set(predictions["error"].dropna()) <= set(QUARANTINE_REASONS)  # the validation's reason names
    for accept in ("application/jsonlines", "text/csv"):
        output_fn(predictions, accept)[0].encode("utf-8")
    assert predictions["id"].tolist()[-1] == "i\\udc80"  # echoed escaped


def test_messages_far_from_every_category_are_flagged_novel(model):
    predictions = predict_fn(pd.DataFrame({"id": ["n"], "text": ["lattice quantum chromodynamics seminar"]}), model)
    assert bool(predictions.loc[0, "novel"])


def test_registry_version_from_the_environment_names_the_model(model, monkeypatch):
    monkeypatch.setenv("TWEETOPS_MODEL_VERSION", "7")
    predictions = predict_fn(pd.DataFrame({"id": ["1"], "text": ["refund"]}), model)
    assert predictions.loc[0, "model_version"] == "7"


@pytest.mark.parametrize("body, content_type, message", [
    ("only-one-column\n", "text/csv", "rows \\[1\\] do not have the two columns"),
    ('{"id": 1, "text": "ok"}\nnot json\n', "application/jsonlines", "line 2 is not JSON"),
    ("x", "application/xml", "unsupported content type"),
])
def test_bad_payloads_are_refused_with_the_reason(body, content_type, message):
    with pytest.raises(ValueError, match=message):
        input_fn(body, content_type)


def test_unknown_accept_type_is_refused(model):
    with pytest.raises(ValueError, match="unsupported accept type"):
        output_fn(predict_fn(pd.DataFrame({"id": ["1"], "text": ["hi"]}), model), "application/xml")


def test_bytes_payloads_are_decoded_as_utf8(model):
    frame = input_fn("1,¿dónde está mi pedido?\n".encode(), "text/csv; charset=utf-8")
    assert frame.loc[0, "text"] == "¿dónde está mi pedido?"


FORMULA_IDS = ["=1+1", "+cmd|' /C calc'!A0", "@SUM(A1:A2)", "-2+3", "-3.5"]


def test_csv_predictions_quote_cells_a_spreadsheet_would_run_as_formulas(model):
    body = "".join(f'"{id_}",my package never arrived\n' for id_ in FORMULA_IDS)
    predictions = pd.read_csv(pd.io.common.StringIO(serve(body, "text/csv", "text/csv", model)), dtype=str,
                              keep_default_na=False)
    assert predictions["id"].tolist() == ["'=1+1", "'+cmd|' /C calc'!A0", "'@SUM(A1:A2)", "'-2+3", "-3.5"]
    assert (predictions["category"] == "delivery").all()


def test_json_lines_predictions_keep_such_ids_exactly(model):
    body = "".join(json.dumps({"id": id_, "text": "my package never arrived"}) + "\n" for id_ in FORMULA_IDS)
    lines = serve(body, "application/jsonlines", "application/jsonlines", model).splitlines()
    assert [json.loads(line)["id"] for line in lines] == FORMULA_IDS


SERVE_AND_REPORT_IMPORTS = """
import importlib.util, json, os, sys
import pandas as pd
from inference.handlers import model_fn, predict_fn
model = model_fn(sys.argv[1])
predictions = predict_fn(pd.DataFrame({"id": ["1"], "text": ["my package never arrived"]}), model)
import thinc.compat
print(json.dumps({"category": predictions.loc[0, "category"], "torch_loaded": "torch" in sys.modules,
                  "thinc_has_torch": thinc.compat.has_torch,
                  "torch_importable_after": importlib.util.find_spec("torch") is not None}))
"""


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch is not installed: nothing to keep out")
def test_a_serving_process_never_imports_torch(model_dir):
    environment = {**os.environ,
                   MODEL_DIGEST_VARIABLE: json.loads((model_dir / "metadata.json").read_text())["model_sha256"]}
    result = subprocess.run([sys.executable, "-c", SERVE_AND_REPORT_IMPORTS, str(model_dir)], env=environment,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.splitlines()[-1])
    assert report == {"category": "delivery", "torch_loaded": False, "thinc_has_torch": False,
                      "torch_importable_after": True}
