"""Specification of the torch-free int8 ONNX export (processing.onnx_export): for the shipped all-MiniLM-L6-v2 it
writes the int8 model the torch path (sentence-transformers + optimum) writes, node for node and weight for weight,
so the vectors are bitwise the same, without importing torch and in a fraction of the memory; any model it does not
cover is left to the torch path. The torch-path reference is exported once for the module (about 15 s)."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import numpy as np
import onnx
import pytest

from processing import embeddings, onnx_export
from processing.demo_data import generate_messages

pytest.importorskip("sentence_transformers", reason="needs the [embeddings] extra (installed by [test])")
pytestmark = pytest.mark.xdist_group("onnx-export")  # one worker makes the torch-path reference export once

EDGE_TEXTS = ["", "   ", "card " * 400, "¿Dónde está mi tarjeta? No llegó y ya pasaron diez días 😡 #fail @Bank",
              "🙂🙂🙂 thanks!!! 🎉", "tab\tand\nnewline", "日本語のテキスト", "CAPS AND e\u0301 combining accents",
              "ÑANDÚ über straße"]
HEAVY_MODULES = ("torch", "transformers", "optimum", "sentence_transformers")
# Runs the torch-free export in a fresh interpreter; prints the heavy modules it imported and its peak resident
# memory in MiB (VmHWM: ru_maxrss would count the memory of the forked test process before its exec).
EXPORT_SCRIPT = ("import re, sys; from pathlib import Path; from processing import embeddings as e; "
                 "e.export_quantized_onnx(Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]); "
                 f"print(sorted(set({HEAVY_MODULES!r}) & set(sys.modules)), "
                 "int(re.search(r'VmHWM:\\s+(\\d+)', Path('/proc/self/status').read_text()).group(1)) // 1024)")


@pytest.fixture(scope="module")
def shipped():
    return embeddings.resolve_model("all-MiniLM-L6-v2")


@pytest.fixture(scope="module")
def exports(shipped, tmp_path_factory):
    """The torch-path and the torch-free export of the shipped model for this CPU, and what the torch-free export
    process imported and its peak resident memory (MiB)."""
    root = tmp_path_factory.mktemp("exports")
    _, file_name, target = embeddings.onnx_location("unused", root)
    embeddings.export_with_sentence_transformers(shipped, root / "torch", target)
    result = subprocess.run([sys.executable, "-c", EXPORT_SCRIPT, str(shipped), str(root / "torch-free"), target],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    imported, peak_mib = result.stdout.rsplit(" ", 1)
    return {"torch": root / "torch", "torch-free": root / "torch-free", "file": file_name,
            "imported": imported, "peak_mib": int(peak_mib)}


@pytest.fixture(scope="module")
def texts():
    """A few hundred varied messages (Spanish and English, emojis, typos) and the edge cases."""
    return [text for text in generate_messages(300, seed=11, malformed_share=0.0)["text"]] + EDGE_TEXTS


def test_the_shipped_model_is_exported_without_torch_in_less_than_half_the_memory(shipped, exports):
    assert onnx_export.supports_torch_free_export(shipped)
    assert exports["imported"] == "[]"
    assert exports["peak_mib"] < 600  # about 350 MiB measured; the torch path peaks at about 1,200 MiB
    assert (exports["torch-free"] / exports["file"]).is_file()
    assert not (exports["torch-free"] / "model.safetensors").exists()  # the weights are in the ONNX graph


def test_the_int8_model_is_the_torch_paths_but_for_the_names_of_transposed_weights_and_unnamed_constants(exports):
    ours = onnx.load(exports["torch-free"] / exports["file"])
    reference = onnx.load(exports["torch"] / exports["file"])
    renamed = rename_like(ours, reference)
    # torch numbers what has no module name (onnx::MatMul_740, Constant_214): those names alone may differ.
    unnamed_in_torch = (".weight.transposed", "/axes", "/embeddings/position_ids")
    assert renamed and all(re.sub("_(quantized|scale|zero_point)$", "", name).endswith(unnamed_in_torch)
                           for name in renamed)
    assert ours.SerializeToString() == reference.SerializeToString()


def test_vectors_are_bitwise_the_torch_path_exports(exports, texts):
    encoders = [embeddings.OnnxEncoder(exports[kind], exports["file"]) for kind in ("torch-free", "torch")]
    ours, reference = (embeddings.embed(encoder, texts, batch_size=16, threads=1) for encoder in encoders)
    assert ours.shape == (len(texts), 384) and ours.dtype == np.float32
    assert ours.tobytes() == reference.tobytes()


def test_both_loaders_read_the_same_tokens_from_either_export(exports, texts):
    # The torch path re-serialises tokenizer.json and rewrites the configs; the torch-free folder holds the source's
    # files. OnnxEncoder (tokenizers alone) and sentence-transformers (transformers) see the same tokens in both.
    def onnx_encoder_tokens(kind):
        encoder = embeddings.OnnxEncoder(exports[kind], exports["file"])
        return [item.ids[:sum(item.attention_mask)] for item in encoder.tokenizer.encode_batch(texts)]

    def sentence_transformers_tokens(kind):
        features = embeddings.sentence_transformer_onnx(exports[kind], exports["file"]).preprocess(texts)
        return [ids[mask.bool()].tolist() for ids, mask in zip(features["input_ids"], features["attention_mask"])]

    tokens = onnx_encoder_tokens("torch-free")
    assert tokens == onnx_encoder_tokens("torch")
    assert tokens == sentence_transformers_tokens("torch-free") == sentence_transformers_tokens("torch")
    assert max(len(ids) for ids in tokens) == 256  # the 400-word text, truncated to the model's maximum


@pytest.mark.parametrize("change", ["roberta", "relative positions", "tanh gelu", "cased tokenizer config",
                                    "pytorch_model.bin only", "no modules.json", "pooling first"])
def test_models_it_does_not_cover_are_left_to_the_torch_path(shipped, tmp_path, change):
    folder = small_copy(shipped, tmp_path)
    assert onnx_export.supports_torch_free_export(folder)  # the copy itself is covered
    edit = {"roberta": ("config.json", {"model_type": "roberta"}),
            "relative positions": ("config.json", {"position_embedding_type": "relative_key"}),
            "tanh gelu": ("config.json", {"hidden_act": "gelu_new"}),
            # transformers would rebuild tokenizer.json's lower-casing normalizer: copying it would be wrong
            "cased tokenizer config": ("tokenizer_config.json", {"do_lower_case": False})}
    if change in edit:
        name, values = edit[change]
        (folder / name).write_text(json.dumps({**json.loads((folder / name).read_text()), **values}))
    elif change == "pytorch_model.bin only":
        (folder / "model.safetensors").rename(folder / "pytorch_model.bin")
    elif change == "no modules.json":
        (folder / "modules.json").unlink()
    else:
        modules = json.loads((folder / "modules.json").read_text())
        (folder / "modules.json").write_text(json.dumps(modules[1:] + modules[:1]))
    assert not onnx_export.supports_torch_free_export(folder)
    assert not onnx_export.supports_torch_free_export(str(folder))  # nor a hub name


def test_an_uncovered_model_is_exported_through_sentence_transformers_into_the_same_atomic_folder(tmp_path,
                                                                                                 monkeypatch):
    calls = []

    def torch_path(source, scratch, target):
        calls.append((source, scratch.parent, target))
        (scratch / "onnx").mkdir()
        (scratch / "onnx" / "model_qint8_avx2.onnx").write_bytes(b"int8")

    monkeypatch.setattr(embeddings, "export_with_sentence_transformers", torch_path)
    embeddings.export_quantized_onnx("some/hub-model", tmp_path / "onnx" / "fingerprint", "avx2")
    assert calls == [("some/hub-model", tmp_path / "onnx", "avx2")]
    assert [path.name for path in (tmp_path / "onnx").iterdir()] == ["fingerprint"]  # no scratch folder left
    assert (tmp_path / "onnx" / "fingerprint" / "onnx" / "model_qint8_avx2.onnx").read_bytes() == b"int8"


def rename_like(model: onnx.ModelProto, reference: onnx.ModelProto) -> set[str]:
    """Give `model`'s tensors and nodes the names of the reference's at the same places (initializers in order,
    node outputs and node names in graph order); returns the tensor names that changed."""
    tensors = {ours.name: theirs.name for ours, theirs in zip(model.graph.initializer, reference.graph.initializer)}
    nodes = {}
    for ours, theirs in zip(model.graph.node, reference.graph.node):
        nodes[ours.name] = theirs.name
        tensors.update(zip(ours.output, theirs.output))
    for tensor in list(model.graph.initializer) + list(model.graph.value_info):
        tensor.name = tensors.get(tensor.name, tensor.name)
    for node in model.graph.node:
        node.name = nodes.get(node.name, node.name)
        node.input[:] = [tensors.get(name, name) for name in node.input]
        node.output[:] = [tensors.get(name, name) for name in node.output]
    return {name for name, new in tensors.items() if name != new}


def small_copy(source, folder):
    """The model folder's files, its weights as a link (the support check only reads their names and types)."""
    for file in source.rglob("*"):
        if file.is_file():
            (folder / file.relative_to(source)).parent.mkdir(parents=True, exist_ok=True)
            if file.name == "model.safetensors":
                (folder / file.name).symlink_to(file)
            else:
                shutil.copyfile(file, folder / file.relative_to(source))
    return folder
