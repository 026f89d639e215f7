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


@pytest.mark.parametrize("uri, reason", [
    ("s3://../x/y", "is not an S3 bucket name"), ("s3://./x", "is not an S3 bucket name"),
    ("s3://ab/x", "is not an S3 bucket name"), ("s3://Bucket/x", "is not an S3 bucket name"),
    ("s3://my..bucket/x", "is not an S3 bucket name"), ("s3://" + "b" * 64 + "/x", "is not an S3 bucket name"),
    ("s3://user@bucket/x", "is not an S3 bucket name"),
    ("s3://bucket//etc/passwd", "the key looks absolute"), ("s3://bucket/a//b", "empty parts"),
    ("s3://bucket/a/../../x", "'..' are not allowed"), ("s3://bucket/./x", "'..' are not allowed"),
    ("s3://bucket/..\\..\\x", "backslashes"), ("s3://bucket/a\0b", "NUL")])
def test_a_uri_that_could_leave_its_bucket_folder_is_refused(store, uri, reason):
    with pytest.raises(StoreError, match=reason):
        store.path(uri)


def test_a_link_inside_the_store_does_not_lead_out_of_the_bucket(store, tmp_path):
    (tmp_path / "outside").mkdir()
    store.path("s3://bucket/").mkdir(parents=True)
    (store.path("s3://bucket/") / "link").symlink_to(tmp_path / "outside")
    with pytest.raises(StoreError, match="the key leads outside the bucket"):
        store.path("s3://bucket/link/file.txt")


def test_a_prefix_uri_with_a_trailing_slash_is_the_prefix_folder(store, tmp_path):
    assert store.path("s3://bucket/raw/") == store.path("s3://bucket/raw") == tmp_path / "s3" / "bucket" / "raw"


def test_download_copies_a_prefix_or_one_object(store, tmp_path):
    put(store, "s3://test-bucket/raw/x.csv", "x")
    put(store, "s3://test-bucket/raw/sub/y.csv", "y")
    assert store.download("s3://test-bucket/raw/", tmp_path / "all") == ["sub/y.csv", "x.csv"]
    assert (tmp_path / "all" / "sub" / "y.csv").read_text() == "y"
    assert store.download("s3://test-bucket/raw/x.csv", tmp_path / "one") == ["x.csv"]


def test_sharded_download_gives_each_instance_a_disjoint_part(store, tmp_path):
    for index in range(5):
        put(store, f"s3://test-bucket/raw/part-{index}.csv", str(index))
    shares = [store.download("s3://test-bucket/raw", tmp_path / str(i), share=(i, 2)) for i in range(2)]
    assert sorted(shares[0] + shares[1]) == [f"part-{i}.csv" for i in range(5)]
    assert not set(shares[0]) & set(shares[1])


def test_an_empty_prefix_is_an_error_naming_it(store, tmp_path):
    with pytest.raises(StoreError, match="no objects under s3://test-bucket/missing"):
        store.download("s3://test-bucket/missing/", tmp_path / "x")


def test_publish_merges_instance_folders_and_replaces_an_older_attempt(store, tmp_path):
    (tmp_path / "algo-1").mkdir()
    (tmp_path / "algo-1" / "part-0.txt").write_text("0")
    (tmp_path / "algo-2").mkdir()
    (tmp_path / "algo-2" / "part-1.txt").write_text("1")
    put(store, "s3://test-bucket/out/stale.txt", "left by a killed attempt")
    store.publish([tmp_path / "algo-1", tmp_path / "algo-2"], "s3://test-bucket/out")
    assert [key for key, _ in store.objects("s3://test-bucket/out")] == ["part-0.txt", "part-1.txt"]
    assert not [p for p in store.path("s3://test-bucket").iterdir() if p.name.startswith(".")]  # no staging left behind


def test_staging_is_content_addressed(store, tmp_path):
    source = tmp_path / "messages.csv"
    source.write_text("id,text\n1,hola\n")
    first = store.stage(source, "s3://test-bucket/raw")
    assert store.stage(source, "s3://test-bucket/raw") == first
    source.write_text("id,text\n1,adios\n")
    second = store.stage(source, "s3://test-bucket/raw")
    assert second != first and store.objects(second)[0][1].read_text().endswith("adios\n")


def test_fingerprint_follows_content(store):
    put(store, "s3://test-bucket/p/a.txt", "1")
    before = store.fingerprint("s3://test-bucket/p")
    put(store, "s3://test-bucket/p/a.txt", "2")
    assert store.fingerprint("s3://test-bucket/p") != before
    assert store.fingerprint("s3://test-bucket/nothing") == ""


def test_publish_without_replace_adds_files_beside_what_is_there_as_an_s3_upload_does(store, tmp_path):
    (tmp_path / "job" / "date=2024-03-05").mkdir(parents=True)
    (tmp_path / "job" / "date=2024-03-05" / "exec-2.parquet").write_text("2")
    (tmp_path / "job" / ".hidden.tmp").write_text("temporary")
    put(store, "s3://test-bucket/new-data/date=2024-03-05/exec-1.parquet", "1")
    store.publish([tmp_path / "job"], "s3://test-bucket/new-data/", replace=False)
    assert [key for key, _ in store.objects("s3://test-bucket/new-data")] == [
        "date=2024-03-05/exec-1.parquet", "date=2024-03-05/exec-2.parquet"]
