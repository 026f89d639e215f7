"""Torch-free int8 ONNX export of BERT sentence-transformers models (all-MiniLM-L6-v2 and its kin).

The torch path (sentence-transformers -> optimum -> torch.onnx, then optimum's ORTQuantizer) takes about 13 s and
1,240 MiB of resident memory for MiniLM; this module about 3 s and 350 MiB. It writes the same int8 model from
model.safetensors with numpy and onnx.helper alone: `build_bert_graph` lays out, op for op and constant for
constant, the fp32 graph torch.onnx exports for transformers' BertModel (opset 18), and `optimum_quantizer` makes
the ONNX Runtime quantizer optimum makes for AutoQuantizationConfig.<target>(is_static=False). Vectors are bitwise
identical to the torch path's; the files differ only in the names of the transposed weights and of a few unnamed
constants (tests/processing/test_onnx_export.py).

Exported folder: the source's files but its transformer weights, plus onnx/model_<q>int8_<target>.onnx.
"""
from __future__ import annotations

import fnmatch
import functools
import shutil
import tempfile
from collections import Counter
from pathlib import Path
from typing import Callable

import numpy as np

from processing.embeddings import read_model_json

WEIGHTS_FILE = "model.safetensors"
TARGETS = ("arm64", "avx2", "avx512", "avx512_vnni")
# Top-level files and folders the export leaves out: the transformer's weights are in the ONNX graph now.
WEIGHT_FILES = ("*.safetensors", "*.bin", "*.h5", "*.msgpack", "*.ot", "*.pt", "onnx", "openvino", ".*")
LINEARS = ("attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense",
           "intermediate.dense", "output.dense")


def supports_torch_free_export(source: str | Path) -> bool:
    """Whether `source` is a folder this module exports: a sentence-transformers model whose transformer, at the
    folder's root, is a float32 BERT encoder in model.safetensors with the tokenizer.json transformers would use."""
    return (isinstance(source, Path) and _is_bert_encoder(read_model_json(source / "config.json"))
            and _transformer_at_root(source) and _has_float32_weights(source) and _tokenizer_as_saved(source))


def export_bert_int8(source: Path, folder: Path, target: str) -> Path:
    """Write the int8 ONNX export of `source` for `target` and the files its loaders read into `folder`;
    returns the model's path (onnx/model_qint8_<target>.onnx, quint8 for avx2)."""
    import onnx
    from onnxruntime.quantization.quant_utils import load_model_with_shape_infer

    from processing.embeddings import return_freed_memory

    if target not in TARGETS:
        raise ValueError(f"unknown quantization target {target!r}; choose one of {list(TARGETS)}")
    path = folder / "onnx" / f"model_{weight_type(target)}_{target}.onnx"
    config = read_model_json(source / "config.json")
    with tempfile.TemporaryDirectory(prefix="onnx-export-") as scratch:
        # The quantizer's first step, done here from a file (ORT's own function): it saves the graph and reloads
        # it with its shapes inferred. Saving moves the weights out of the built graph, so the fp32 weights are
        # never twice in memory here; the result is the model the quantizer would have made itself.
        fp32 = Path(scratch) / "model.onnx"
        onnx.save_model(build_bert_graph(functools.partial(read_tensor, source / WEIGHTS_FILE), config), str(fp32),
                        save_as_external_data=True)
        model = load_model_with_shape_infer(fp32)
    quantizer = optimum_quantizer(model, target)
    # The quantizer works on its own shape-inferred copy; its index of the given model's initializers (read by the
    # QDQ quantizer only) would keep that model, 90 MB for MiniLM, in memory throughout.
    del model
    quantizer.initializers = {}
    return_freed_memory()  # hand the freed copies back to the system before quantizing allocates anew
    quantizer.quantize_model()
    copy_model_files(source, folder)
    path.parent.mkdir(parents=True, exist_ok=True)
    quantizer.model.save_model_to_file(str(path), False)  # as optimum saves it: topologically sorted, one file
    onnx.checker.check_model(str(path))
    return path


def weight_type(target: str) -> str:
    """The int8 weight type optimum picks per target: unsigned for AVX2 (u8/u8 kernels), signed elsewhere."""
    return "quint8" if target == "avx2" else "qint8"


def optimum_quantizer(model, target: str):
    """ONNX Runtime's dynamic int8 quantizer for `model` (an onnx ModelProto), made as optimum's ORTQuantizer makes
    it for AutoQuantizationConfig.<target>(is_static=False): per channel, full range, symmetric weights, u8
    activations. Run it with .quantize_model(); the result is its .model (an ONNXModel)."""
    from onnxruntime.quantization import QuantizationMode, QuantType
    from onnxruntime.quantization.onnx_quantizer import ONNXQuantizer

    quantizer = ONNXQuantizer(
        model, per_channel=True, reduce_range=False, mode=QuantizationMode.IntegerOps, static=False,
        weight_qType=QuantType.QUInt8 if weight_type(target) == "quint8" else QuantType.QInt8,
        activation_qType=QuantType.QUInt8, tensors_range=None, nodes_to_quantize=[], nodes_to_exclude=[],
        # optimum's ORT_DEFAULT_OPS_DYNAMIC_QUANTIZATION, and the extra options it passes (unlike quantize_dynamic,
        # no MatMulConstBOnly: the attention's activation-by-activation MatMuls are quantised too).
        op_types_to_quantize=["Conv", "MatMul", "Attention", "LSTM", "Gather", "Transpose",
                              "EmbedLayerNormalization"],
        extra_options={"WeightSymmetric": True, "ActivationSymmetric": False, "EnableSubgraph": False,
                       "ForceSymmetric": False, "AddQDQPairToWeight": False, "DedicatedQDQPair": False,
                       "QDQOpTypePerChannelSupportToAxis": {"MatMul": 1}})
    return quantizer


def build_bert_graph(weight: Callable[[str], np.ndarray], config: dict):
    """The fp32 ONNX graph torch.onnx (opset 18) exports for transformers' BertModel with the given weights
    (`weight(name)` reads one): inputs input_ids, attention_mask and token_type_ids, output last_hidden_state."""
    from onnx import OperatorSetIdProto, TensorProto, helper, numpy_helper

    layers, hidden, heads = config["num_hidden_layers"], config["hidden_size"], config["num_attention_heads"]
    graph = _TorchNamedGraph()
    dims = ["batch_size", "sequence_length"]

    # Embeddings: word + token type + position (a slice of the position-ids buffer), then LayerNorm.
    input_shape = graph.op("", "Shape", "input_ids")
    sequence = graph.op("", "Gather", input_shape, graph.constant("", np.int64(1)), axis=0)
    positions = graph.unnamed_constant(np.arange(config["max_position_embeddings"], dtype=np.int64)[None],
                                       "/embeddings/position_ids")
    axes, starts = graph.constant("/embeddings", [1]), graph.constant("/embeddings", [0])
    ends = graph.op("/embeddings", "Unsqueeze", sequence, graph.constant("/embeddings", [0]))
    positions = graph.op("/embeddings", "Slice", positions, starts, ends, axes, graph.constant("/embeddings", [1]))
    words = graph.op("/embeddings/word_embeddings", "Gather", "embeddings.word_embeddings.weight", "input_ids")
    types = graph.op("/embeddings/token_type_embeddings", "Gather", "embeddings.token_type_embeddings.weight",
                     "token_type_ids")
    x = graph.op("/embeddings", "Add", words, types)
    x = graph.op("/embeddings", "Add", x, graph.op("/embeddings/position_embeddings", "Gather",
                                                   "embeddings.position_embeddings.weight", positions))
    x = graph.layer_norm("/embeddings/LayerNorm", x, "embeddings.LayerNorm", config["layer_norm_eps"])

    # Attention mask (batch, seq) -> additive bias (batch, 1, seq, seq): 0 where attended, float32 min elsewhere,
    # through the expand-and-invert steps of transformers' SDPA mask preparation.
    batch = graph.op("", "Gather", graph.op("", "Shape", "attention_mask"), graph.constant("", np.int64(0)), axis=0)
    mask_length = graph.op("", "Gather", graph.op("", "Shape", "attention_mask"), graph.constant("", np.int64(1)),
                           axis=0)
    mask = graph.op("", "Unsqueeze", "attention_mask", graph.constant("", [1]))
    mask = graph.op("", "Unsqueeze", mask, graph.constant("", [2]))
    shape = graph.op("", "Concat", graph.op("", "Unsqueeze", batch, graph.constant("", [0])), graph.constant("", [1]),
                     graph.op("", "Unsqueeze", sequence, graph.constant("", [0])),
                     graph.op("", "Unsqueeze", mask_length, graph.constant("", [0])), axis=0)
    shape = graph.op("", "Reshape", shape, graph.constant("", [-1]), allowzero=0)
    ones = graph.op("", "ConstantOfShape", graph.op("", "Shape", shape),
                    value=numpy_helper.from_array(np.array([1], dtype=np.int64)))
    # Expand's -1 ("keep this dimension") becomes 1, as torch.expand's symbolic rewrites it.
    keep = graph.op("", "Equal", shape, graph.op("", "Mul", ones, graph.constant("", np.int64(-1))))
    shape = graph.op("", "Where", keep, ones, shape)
    mask = graph.op("", "Cast", graph.op("", "Expand", mask, shape), to=TensorProto.FLOAT)
    inverted = graph.op("", "Sub", graph.constant("", np.float32(1.0)), mask)
    is_masked = graph.op("", "Cast", graph.op("", "Cast", inverted, to=TensorProto.BOOL), to=TensorProto.BOOL)
    bias = graph.op("", "Where", is_masked, graph.constant("", np.finfo(np.float32).min), inverted)

    for layer in range(layers):
        x = _encoder_layer(graph, x, bias, f"encoder.layer.{layer}", heads, hidden // heads, config["layer_norm_eps"])
    graph.rename(x, "last_hidden_state")

    model = helper.make_model(
        helper.make_graph(graph.nodes, "main_graph",
                          [helper.make_tensor_value_info(name, TensorProto.INT64, dims)
                           for name in ("input_ids", "attention_mask", "token_type_ids")],
                          [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, dims + [hidden])]),
        opset_imports=[OperatorSetIdProto(version=18)], ir_version=8, producer_name="processing.onnx_export")
    # Initializers in torch's order: the module parameters as they are, then the transposed Linear weights.
    # Appended to the model one by one (make_graph and make_model would each copy them all).
    initializers = model.graph.initializer
    linear_weights = [f"encoder.layer.{layer}.{linear}.weight" for layer in range(layers) for linear in LINEARS]
    for name in _weight_names(layers):
        if name not in linear_weights:
            initializers.append(numpy_helper.from_array(weight(name), name))
    for name in linear_weights:
        initializers.append(numpy_helper.from_array(np.ascontiguousarray(weight(name).T), _transposed(name)))
    return model


def _encoder_layer(graph: _TorchNamedGraph, x: str, bias: str, prefix: str, heads: int, head_size: int,
                   eps: float) -> str:
    """One BertLayer: self-attention (SDPA's decomposition, the scale split as sqrt over q and k), residual
    LayerNorm, erf GELU feed-forward, residual LayerNorm."""
    from onnx import TensorProto

    scope = "/" + prefix.replace(".", "/", 1)  # encoder.layer.0 -> /encoder/layer.0
    attention = f"{scope}/attention/self"
    batch = graph.op(attention, "Gather", graph.op(attention, "Shape", x), graph.constant(attention, np.int64(0)),
                     axis=0)
    sequence = graph.op(attention, "Gather", graph.op(attention, "Shape", x), graph.constant(attention, np.int64(1)),
                        axis=0)

    def split_heads_shape() -> str:  # (batch, -1, heads, head_size)
        return graph.op(attention, "Concat", graph.unsqueeze_unscoped(attention, batch),
                        graph.constant(attention, [-1]), graph.constant(attention, [heads]),
                        graph.constant(attention, [head_size]), axis=0)

    query = graph.linear(f"{attention}/query", x, f"{prefix}.attention.self.query")
    query_shape, key_shape, value_shape = split_heads_shape(), split_heads_shape(), split_heads_shape()
    query = graph.op(attention, "Transpose", graph.op(attention, "Reshape", query, query_shape, allowzero=0),
                     perm=[0, 2, 1, 3])
    key = graph.linear(f"{attention}/key", x, f"{prefix}.attention.self.key")
    key = graph.op(attention, "Reshape", key, key_shape, allowzero=0)
    value = graph.linear(f"{attention}/value", x, f"{prefix}.attention.self.value")
    value = graph.op(attention, "Transpose", graph.op(attention, "Reshape", value, value_shape, allowzero=0),
                     perm=[0, 2, 1, 3])
    # scale = 1 / sqrt(head_size) from the query's last dimension; q and k are each multiplied by sqrt(scale).
    size = graph.op(attention, "Slice", graph.op(attention, "Shape", query), graph.constant(attention, [-1]),
                    graph.constant(attention, [np.iinfo(np.int64).max]))
    scale = graph.op(attention, "Sqrt", graph.op(attention, "Cast", size, to=TensorProto.FLOAT))
    scale = graph.op(attention, "Div", graph.constant(attention, np.array([1.0], dtype=np.float32)), scale)
    scale = graph.op(attention, "Cast", scale, to=TensorProto.FLOAT)
    key = graph.op(attention, "Transpose", key, perm=[0, 2, 3, 1])
    query = graph.op(attention, "Mul", query, graph.op(attention, "Sqrt", scale))
    key = graph.op(attention, "Mul", key, graph.op(attention, "Sqrt", scale))
    scores = graph.op(attention, "Add", graph.op(attention, "MatMul", query, key), bias)
    context = graph.op(attention, "MatMul", graph.op(attention, "Softmax", scores, axis=-1), value)
    context = graph.op(attention, "Transpose", context, perm=[0, 2, 1, 3])
    merged_shape = graph.op(attention, "Concat", graph.unsqueeze_unscoped(attention, batch),
                            graph.unsqueeze_unscoped(attention, sequence),
                            graph.constant(attention, [heads * head_size]), axis=0)
    context = graph.op(attention, "Reshape", context, merged_shape, allowzero=0)

    output = f"{scope}/attention/output"
    attended = graph.op(output, "Add", graph.linear(f"{output}/dense", context, f"{prefix}.attention.output.dense"), x)
    attended = graph.layer_norm(f"{output}/LayerNorm", attended, f"{prefix}.attention.output.LayerNorm", eps)

    inner = graph.linear(f"{scope}/intermediate/dense", attended, f"{prefix}.intermediate.dense")
    gelu = f"{scope}/intermediate/intermediate_act_fn"  # x * (1 + erf(x / sqrt 2)) * 0.5
    erf = graph.op(gelu, "Erf", graph.op(gelu, "Div", inner, graph.constant(gelu, np.float32(np.sqrt(2.0)))))
    inner = graph.op(gelu, "Mul", inner, graph.op(gelu, "Add", erf, graph.constant(gelu, np.float32(1.0))))
    inner = graph.op(gelu, "Mul", inner, graph.constant(gelu, np.float32(0.5)))
    out = graph.op(f"{scope}/output", "Add", graph.linear(f"{scope}/output/dense", inner, f"{prefix}.output.dense"),
                   attended)
    return graph.layer_norm(f"{scope}/output/LayerNorm", out, f"{prefix}.output.LayerNorm", eps)


class _TorchNamedGraph:
    """Nodes named as torch.onnx names them: <module scope>/<OpType>, then _1, _2... per scope and op type, each
    with one output <node name>_output_0 (so the quantizer's derived names match too)."""

    def __init__(self):
        self.nodes, self._counts = [], Counter()

    def op(self, scope: str, op_type: str, *inputs: str, **attributes) -> str:
        from onnx import helper

        name = self._next_name(scope, op_type)
        self.nodes.append(helper.make_node(op_type, list(inputs), [f"{name}_output_0"], name=name, **attributes))
        return f"{name}_output_0"

    def constant(self, scope: str, value) -> str:
        """A Constant node in `scope`; a list becomes a 1-d int64 tensor, a numpy scalar a 0-d tensor."""
        from onnx import numpy_helper

        value = np.array(value, dtype=np.int64) if isinstance(value, list) else np.asarray(value)
        return self.op(scope, "Constant", value=numpy_helper.from_array(value))

    def unnamed_constant(self, value: np.ndarray, name: str) -> str:
        """A Constant torch creates outside any module scope (its name is a torch value number; ours is `name`)."""
        from onnx import helper, numpy_helper

        self.nodes.append(helper.make_node("Constant", [], [name], name=name, value=numpy_helper.from_array(value)))
        return name

    def unsqueeze_unscoped(self, scope: str, x: str) -> str:
        """Unsqueeze at axis 0 whose axes constant torch's symbolic makes unscoped."""
        from onnx import helper

        name = self._next_name(scope, "Unsqueeze")
        axes = self.unnamed_constant(np.array([0], dtype=np.int64), f"{name}/axes")
        self.nodes.append(helper.make_node("Unsqueeze", [x, axes], [f"{name}_output_0"], name=name))
        return f"{name}_output_0"

    def linear(self, scope: str, x: str, prefix: str) -> str:
        """nn.Linear as torch exports it: MatMul by the transposed weight, then bias + product."""
        return self.op(scope, "Add", f"{prefix}.bias", self.op(scope, "MatMul", x, _transposed(f"{prefix}.weight")))

    def layer_norm(self, scope: str, x: str, prefix: str, eps: float) -> str:
        return self.op(scope, "LayerNormalization", x, f"{prefix}.weight", f"{prefix}.bias", axis=-1, epsilon=eps)

    def rename(self, output: str, name: str) -> None:
        """Rename the last node's output (the graph output), as torch names it after the model's output."""
        assert self.nodes[-1].output[0] == output
        self.nodes[-1].output[0] = name

    def _next_name(self, scope: str, op_type: str) -> str:
        count = self._counts[scope, op_type]
        self._counts[scope, op_type] += 1
        return f"{scope}/{op_type}" + (f"_{count}" if count else "")


def read_tensor(path: Path, name: str) -> np.ndarray:
    """One tensor of a .safetensors file. The file is mapped only while it is read: its pages would otherwise
    count in this process's resident memory, beside the copies the graph holds."""
    from safetensors import safe_open

    with safe_open(str(path), framework="np") as tensors:
        return tensors.get_tensor(name)


def _is_bert_encoder(config) -> bool:
    """transformers' BertModel as build_bert_graph lays it out: absolute positions, erf GELU, no decoder parts."""
    sizes = ("hidden_size", "num_attention_heads", "num_hidden_layers", "max_position_embeddings")
    return (isinstance(config, dict) and config.get("model_type") == "bert"
            and config.get("position_embedding_type", "absolute") == "absolute" and config.get("hidden_act") == "gelu"
            and not config.get("is_decoder") and not config.get("add_cross_attention")
            and all(isinstance(config.get(key), int) and config[key] > 0 for key in sizes)
            and isinstance(config.get("layer_norm_eps"), float)
            and config["hidden_size"] % config["num_attention_heads"] == 0)


def _transformer_at_root(source: Path) -> bool:
    """The first module is the Transformer, whose files are the folder's own (later modules are copied as they
    are), with its max_seq_length (both loaders read it there)."""
    modules = read_model_json(source / "modules.json")
    settings = read_model_json(source / "sentence_bert_config.json")
    return (isinstance(modules, list) and bool(modules) and isinstance(modules[0], dict)
            and modules[0].get("type", "").rsplit(".", 1)[-1] == "Transformer" and modules[0].get("path") == ""
            and isinstance(settings, dict) and isinstance(settings.get("max_seq_length"), int))


def _has_float32_weights(source: Path) -> bool:
    """model.safetensors holds every parameter the graph uses, in float32 (as the torch path computes)."""
    from safetensors import safe_open

    try:
        with safe_open(str(source / WEIGHTS_FILE), framework="np") as weights:
            present = set(weights.keys())
            needed = _weight_names(read_model_json(source / "config.json")["num_hidden_layers"])
            return all(name in present and weights.get_slice(name).get_dtype() == "F32" for name in needed)
    except Exception:  # noqa: BLE001 - a missing or unreadable file is simply not ours to export
        return False


def _tokenizer_as_saved(source: Path) -> bool:
    """Whether tokenizer.json tokenizes as the one the torch path saves: transformers' BertTokenizerFast rebuilds
    its normalizer when tokenizer_config.json asks for other lower-casing, accents or Chinese characters."""
    tokenizer, settings = read_model_json(source / "tokenizer.json"), read_model_json(source / "tokenizer_config.json") or {}
    if not isinstance(tokenizer, dict) or not isinstance(settings, dict) \
            or settings.get("tokenizer_class", "BertTokenizer") not in ("BertTokenizer", "BertTokenizerFast"):
        return False
    normalizer = tokenizer.get("normalizer") or {}
    wanted = {"lowercase": settings.get("do_lower_case", True), "strip_accents": settings.get("strip_accents"),
              "handle_chinese_chars": settings.get("tokenize_chinese_chars", True)}
    return all(normalizer.get(key, value) == value for key, value in wanted.items())


def _weight_names(layers: int) -> list[str]:
    """BertModel's parameters the graph uses, in torch's initializer order (the pooler is not used)."""
    names = [f"embeddings.{name}" for name in ("word_embeddings.weight", "position_embeddings.weight",
                                                "token_type_embeddings.weight", "LayerNorm.weight", "LayerNorm.bias")]
    for layer in range(layers):
        prefix = f"encoder.layer.{layer}"
        names += [f"{prefix}.attention.self.{part}.bias" for part in ("query", "key", "value")]
        names += [f"{prefix}.attention.output.{part}" for part in ("dense.bias", "LayerNorm.weight", "LayerNorm.bias")]
        names += [f"{prefix}.{part}" for part in ("intermediate.dense.bias", "output.dense.bias",
                                                  "output.LayerNorm.weight", "output.LayerNorm.bias")]
        names += [f"{prefix}.{linear}.weight" for linear in LINEARS]
    return names


def _transposed(weight_name: str) -> str:
    return f"{weight_name}.transposed"


def copy_model_files(source: Path, folder: Path) -> None:
    """Copy the files of `source` into `folder` but the top-level WEIGHT_FILES (module folders such as 2_Dense/
    keep their weights: sentence-transformers loads them from there). Plain copies: no permissions carried over."""
    for file in sorted(source.rglob("*")):
        relative = file.relative_to(source)
        if file.is_file() and not any(fnmatch.fnmatch(relative.parts[0], pattern) for pattern in WEIGHT_FILES):
            (folder / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(file, folder / relative)


