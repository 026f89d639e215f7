"""The local store: s3:// URIs as folders, sharded downloads, atomic publishing, content-addressed staging."""
import pytest

from pipelines.local.store import LocalStore, StoreError


@pytest.fixture
def store(tmp_path):
    return LocalStore(tmp_path / "s3")


def put(store, uri, text):
    path = store.path(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_uris_map_to_folders_under_the_bucket(store, tmp_path):
    assert store.path("s3://bucket/a/b.csv") == tmp_path / "s3" / "bucket" / "a" / "b.csv"
    assert store.uri(tmp_path / "s3" / "bucket" / "a") == "s3://bucket/a"


@pytest.mark.parametrize("uri", ["/local/file", "file:///x", "s3://", "s3://bucket/../escape"])
def test_anything_but_an_s3_uri_is_refused(store, uri):
    with pytest.raises(StoreError):
        store.path(uri)


def test_download_copies_a_prefix_or_one_object(store, tmp_path):
    put(store, "s3://b/raw/x.csv", "x")
    put(store, "s3://b/raw/sub/y.csv", "y")
    assert store.download("s3://b/raw/", tmp_path / "all") == ["sub/y.csv", "x.csv"]
    assert (tmp_path / "all" / "sub" / "y.csv").read_text() == "y"
    assert store.download("s3://b/raw/x.csv", tmp_path / "one") == ["x.csv"]


def test_sharded_download_gives_each_instance_a_disjoint_part(store, tmp_path):
    for index in range(5):
        put(store, f"s3://b/raw/part-{index}.csv", str(index))
    shares = [store.download("s3://b/raw", tmp_path / str(i), share=(i, 2)) for i in range(2)]
    assert sorted(shares[0] + shares[1]) == [f"part-{i}.csv" for i in range(5)]
    assert not set(shares[0]) & set(shares[1])


def test_an_empty_prefix_is_an_error_naming_it(store, tmp_path):
    with pytest.raises(StoreError, match="no objects under s3://b/missing"):
        store.download("s3://b/missing/", tmp_path / "x")


def test_publish_merges_instance_folders_and_replaces_an_older_attempt(store, tmp_path):
    (tmp_path / "algo-1").mkdir()
    (tmp_path / "algo-1" / "part-0.txt").write_text("0")
    (tmp_path / "algo-2").mkdir()
    (tmp_path / "algo-2" / "part-1.txt").write_text("1")
    put(store, "s3://b/out/stale.txt", "left by a killed attempt")
    store.publish([tmp_path / "algo-1", tmp_path / "algo-2"], "s3://b/out")
    assert [key for key, _ in store.objects("s3://b/out")] == ["part-0.txt", "part-1.txt"]
    assert not [p for p in store.path("s3://b").iterdir() if p.name.startswith(".")]  # no staging left behind


def test_staging_is_content_addressed(store, tmp_path):
    source = tmp_path / "messages.csv"
    source.write_text("id,text\n1,hola\n")
    first = store.stage(source, "s3://b/raw")
    assert store.stage(source, "s3://b/raw") == first
    source.write_text("id,text\n1,adios\n")
    second = store.stage(source, "s3://b/raw")
    assert second != first and store.objects(second)[0][1].read_text().endswith("adios\n")


def test_fingerprint_follows_content(store):
    put(store, "s3://b/p/a.txt", "1")
    before = store.fingerprint("s3://b/p")
    put(store, "s3://b/p/a.txt", "2")
    assert store.fingerprint("s3://b/p") != before
    assert store.fingerprint("s3://b/nothing") == ""
