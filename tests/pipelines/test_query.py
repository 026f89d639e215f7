"""Specification of the query engine over a local home (pipelines/query.py): one view per catalog table with the
catalog's columns and types, the partition from the path, empty views on a new home, read-only; and every saved
query's answer checked against pandas computed from the same frames the home was built from."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from pipelines.query import QueryError, connect, query, run, saved, table_files, zones_root
from processing.catalog import METRIC_COLUMNS, TABLES, write_partition
from processing.queries import SAVED_QUERIES

RUNS = {"exec-a": ("1", ["2024-03-04", "2024-03-05"]), "exec-b": ("2", ["2024-03-05", "2024-03-06"])}
CATEGORIES = ["billing", "delivery", "=HYPERLINK(\"http://x\")", "cuenta"]
DUCKDB_TYPES = {"string": "VARCHAR", "bigint": "BIGINT", "double": "DOUBLE", "boolean": "BOOLEAN"}


def zone(root: Path, table: str) -> Path:
    return root / TABLES[table].zone


def prediction_frames(seed: int = 17) -> dict[tuple[str, str], pd.DataFrame]:
    """(run, day) -> predictions rows: two scoring runs by two model versions over three days, seeded."""
    rng = np.random.default_rng(seed)
    frames = {}
    for run, (model_version, days) in RUNS.items():
        for day in days:
            rows = int(rng.integers(30, 60))
            frames[(run, day)] = pd.DataFrame({
                "id": [f"{run}-{day}-{i}" for i in range(rows)],
                "text": [f"message {i} \x1b[2J of {day}" if i == 0 else f"message {i} of {day}" for i in range(rows)],
                "lang": rng.choice(["es", "en"], rows), "created_at": f"{day}T10:00:00+00:00", "batch": run,
                "category": rng.choice(CATEGORIES, rows, p=[0.4, 0.3, 0.1, 0.2]),
                "confidence": rng.uniform(0.2, 1.0, rows).round(6), "novel": rng.uniform(size=rows) < 0.1,
                "model_version": model_version, "category_map_version": int(model_version),
                "scored_at": f"{days[-1]}T12:00:00+00:00"})
    return frames


QUARANTINE = {  # (execution, day) -> reasons of its rejected rows
    ("train-1", "2024-03-04"): ["empty_text", "empty_text", "empty_text", "duplicate_id", "duplicate_id"],
    ("exec-a", "2024-03-04"): ["empty_text"],
    ("exec-b", "2024-03-06"): ["encoding", "encoding"],
}
ROWS_IN = {"train-1": 300, "exec-a": 120, "exec-b": 80}


def quarantine_frame(execution: str, reasons: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"execution": execution, "source_file": "messages.csv",
                         "row_number": range(1, len(reasons) + 1), "line": range(2, len(reasons) + 2),
                         "reason": reasons, "detail": "what exactly",
                         "record": [json.dumps({"id": str(i)}) for i in range(len(reasons))],
                         "validated_at": "2024-03-04T09:00:00+00:00"})


def quality_frame(execution: str, reasons: list[str]) -> pd.DataFrame:
    counts = pd.Series(reasons).value_counts().to_dict()
    pipeline = "training" if execution.startswith("train") else "inference"
    return pd.DataFrame([{"execution": execution, "pipeline": pipeline,
                          "rows_in": ROWS_IN[execution], "rows_accepted": ROWS_IN[execution] - len(reasons),
                          "rows_quarantined": len(reasons), "quarantine_share": len(reasons) / ROWS_IN[execution],
                          "reasons": json.dumps(counts), "languages": json.dumps({"es": 1}),
                          "validated_at": "2024-03-04T09:00:00+00:00"}])


METRICS = {  # (execution, day) -> (scored_at, estimated accuracy, data drift detected, alarms)
    ("exec-a", "2024-03-05"): ("2024-03-05T12:00:00+00:00", 0.91, 0.0, []),
    ("exec-b", "2024-03-06"): ("2024-03-06T12:00:00+00:00", 0.74, 1.0, ["data-drift", "estimated-accuracy"]),
}


def metrics_frame(execution: str, scored_at: str, accuracy: float, drift: float, alarms: list[str]) -> pd.DataFrame:
    values = {column: 0.5 for column in METRIC_COLUMNS.values()}
    values |= {"estimated_accuracy": accuracy, "data_drift_detected": drift, "scored_messages": 100.0}
    return pd.DataFrame([{"execution": execution, "model_package": f"arn:aws:sagemaker:::model-package/g/{execution}",
                          "judged": True, **values, "alarms": json.dumps(alarms), "scored_at": scored_at}])


def map_rows(version: int, execution: str, written_at: str, categories: dict[str, tuple]) -> pd.DataFrame:
    """A map version's rows: category id -> (name, description, clusters)."""
    return pd.DataFrame([{"map_version": version, "map_hash": f"hash-{version}-{execution}", "category_id": cid,
                          "name": name, "description": description, "clusters": json.dumps(clusters),
                          "reviewed": version > 1, "reviewed_by": "ana" if version > 1 else None,
                          "reviewed_at": written_at if version > 1 else None,
                          "lineage": json.dumps({"new_in": version}), "execution": execution, "written_at": written_at}
                         for cid, (name, description, clusters) in categories.items()])


MAPS = [  # (day, run, version, written_at, categories); the first v1 draft is replaced by a later training's
    ("2024-03-01", "train-0", 1, "2024-03-01T08:00:00+00:00", {"c1": ("old", "stale draft", [9])}),
    ("2024-03-04", "train-1", 1, "2024-03-04T08:00:00+00:00", {
        "c1": ("billing", "charges", [0, 1]), "c2": ("delivery", "parcels", [2]), "c3": ("cuenta", "account", [3]),
        "c4": ("misc", "other", [4]), "c6": ("login", "sign in", [6])}),
    ("2024-03-05", "review-p1", 2, "2024-03-05T15:00:00+00:00", {
        "c1": ("billing", "charges", [0, 1]), "c2": ("shipping", "parcels", [2]), "c3": ("cuenta", "account", [3, 4]),
        "c5": ("fraud", "scams", [7]), "c6": ("login", "sign in and passwords", [6])}),
]


def write_processed(root: Path) -> dict[str, pd.DataFrame]:
    """Two training executions' processed messages; the second's file lacks the optional source/label columns."""
    frames = {}
    for execution, rows, optional in (("train-1", 4, True), ("train-2", 3, False)):
        frame = pd.DataFrame({"id": [f"m{i}" for i in range(rows)], "text": "hola", "created_at": None, "lang": "es",
                              "clean_text": "hola", "feature_text": "hola", "tokens": "hola", "lemmas": "hola",
                              "n_tokens": 1, "emojis": "", "n_urls": 0, "n_mentions": 0})
        if optional:
            frame = frame.assign(source="app", user_id="u1", label=None)
        folder = root / "executions" / execution / "processed"
        folder.mkdir(parents=True)
        frame.to_parquet(folder / "messages.parquet", index=False)
        frames[execution] = frame
    # Another zone of an execution's folder is not processed_messages.
    (root / "executions" / "train-1" / "features").mkdir()
    frames["train-1"].to_parquet(root / "executions" / "train-1" / "features" / "other.parquet", index=False)
    return frames


def build_home(home: Path) -> dict[str, pd.DataFrame]:
    """A small home whose every table has files, written with catalog.write_partition as the jobs do; returns what
    was written per table, with the partition column, for pandas to check the answers against."""
    root = home / "s3" / "tweetops-local" / "tweetops"
    written: dict[str, list[pd.DataFrame]] = {name: [] for name in TABLES}

    def add(table: str, frame: pd.DataFrame, day: str, run: str) -> None:
        write_partition(TABLES[table], frame, zone(root, table), day, run)
        written[table].append(frame.assign(date=day))

    for (run, day), frame in prediction_frames().items():
        add("predictions", frame, day, run)
    for (execution, day), reasons in QUARANTINE.items():
        add("quarantine", quarantine_frame(execution, reasons), day, execution)
        add("quality_reports", quality_frame(execution, reasons), day, execution)
    for (execution, day), values in METRICS.items():
        add("batch_metrics", metrics_frame(execution, *values), day, execution)
    for day, run, version, written_at, categories in MAPS:
        add("category_maps", map_rows(version, run, written_at, categories), day, run)
    processed = write_processed(root)
    tables = {name: pd.concat(frames, ignore_index=True) for name, frames in written.items() if frames}
    tables["processed_messages"] = pd.concat([frame.assign(execution=execution)
                                              for execution, frame in processed.items()], ignore_index=True)
    return tables


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> tuple[Path, dict[str, pd.DataFrame]]:
    folder = tmp_path_factory.mktemp("query") / "home"
    return folder, build_home(folder)


@pytest.fixture
def empty_home(tmp_path) -> Path:
    (tmp_path / "home" / "s3" / "tweetops-local" / "tweetops").mkdir(parents=True)
    return tmp_path / "home"


def view_types(root: Path) -> dict[str, list[tuple[str, str]]]:
    connection = connect(root)
    try:
        return {name: [(row[0], row[1]) for row in connection.execute(f'DESCRIBE "{name}"').fetchall()]
                for name in TABLES}
    finally:
        connection.close()


def catalog_types(name: str) -> list[tuple[str, str]]:
    table = TABLES[name]
    return [*[(column.name, DUCKDB_TYPES[column.type]) for column in table.columns], (table.partition, "VARCHAR")]


# --- the views ---------------------------------------------------------------------------------------------------

def test_every_table_is_a_view_with_the_catalog_columns_and_types_then_its_partition(home):
    types = view_types(zones_root(home[0]))
    assert {name: types[name] for name in TABLES} == {name: catalog_types(name) for name in TABLES}


def test_on_an_empty_home_every_table_is_an_empty_view_of_the_same_columns(empty_home):
    root = zones_root(empty_home)
    assert view_types(root) == {name: catalog_types(name) for name in TABLES}
    for name in TABLES:
        assert run(root, f'SELECT COUNT(*) FROM "{name}"').rows == [(0,)]


def test_every_table_holds_exactly_the_rows_written_with_the_date_from_the_path(home):
    folder, tables = home
    for name, expected in tables.items():
        answer = query(folder, f'SELECT * FROM "{name}"')
        key = [column for column in ("date", "id", "execution", "category_id", "reason", "row_number")
               if column in expected.columns]
        assert len(answer) == len(expected), name
        got = answer.sort_values(key).reset_index(drop=True)
        want = expected.reindex(columns=answer.columns).sort_values(key).reset_index(drop=True)
        for column in answer.columns:
            assert values(got[column]) == values(want[column]), (name, column)


def values(column: pd.Series) -> list:
    """A column's values as Python values, every kind of missing value as None."""
    return [None if pd.isna(value) else value for value in column.tolist()]


def test_processed_messages_take_the_execution_from_the_folder_and_null_for_columns_a_file_lacks(home):
    answer = query(home[0], "SELECT execution, COUNT(*) AS n, COUNT(source) AS sources FROM processed_messages "
                            "GROUP BY execution ORDER BY execution")
    assert answer.to_dict("records") == [{"execution": "train-1", "n": 4, "sources": 4},
                                         {"execution": "train-2", "n": 3, "sources": 0}]


def test_a_predictions_file_without_a_column_reads_as_null_there_and_hidden_files_are_never_read(tmp_path):
    home = tmp_path / "home"
    root = home / "s3" / "tweetops-local" / "tweetops"
    frame = prediction_frames()[("exec-a", "2024-03-04")]
    write_partition(TABLES["predictions"], frame, zone(root, "predictions"), "2024-03-04", "exec-a")
    older = root / "new-data" / "date=2024-03-03" / "old.parquet"
    older.parent.mkdir(parents=True)
    pq.write_table(pa.Table.from_pandas(frame.drop(columns=["lang", "novel"]).head(5), preserve_index=False), older)
    in_progress = root / "new-data" / "date=2024-03-04" / ".exec-c.parquet"
    in_progress.write_bytes((root / "new-data" / "date=2024-03-04" / "exec-a.parquet").read_bytes())
    (root / "new-data" / "not-a-partition").mkdir()
    (root / "new-data" / "not-a-partition" / "x.parquet").write_bytes(older.read_bytes())

    assert [path.name for path in table_files(root, TABLES["predictions"])] == ["old.parquet", "exec-a.parquet"]
    answer = query(home, 'SELECT "date", COUNT(*) AS n, COUNT(lang) AS langs, COUNT(novel) AS flags FROM predictions '
                         'GROUP BY "date" ORDER BY "date"')
    assert answer.to_dict("records") == [{"date": "2024-03-03", "n": 5, "langs": 0, "flags": 0},
                                         {"date": "2024-03-04", "n": len(frame), "langs": len(frame),
                                          "flags": len(frame)}]


# --- read-only and errors ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("sql, message", [
    ("COPY (SELECT 1) TO 'out.csv'", "only SELECT queries run here (the zones are read-only), not COPY"),
    ("SELECT 1; SELECT 2", "give one SQL statement, not 2"),
    ("CREATE TABLE t AS SELECT 1", "only SELECT queries run here (the zones are read-only), not CREATE"),
    ("SELEC 1", 'Parser Error: syntax error at or near "SELEC"'),
    ("SELECT * FROM predictionz", "Catalog Error: no table predictionz; the tables: predictions, quarantine, "
                                  "quality_reports, batch_metrics, category_maps, processed_messages"),
])
def test_anything_but_one_valid_select_is_refused_in_one_line(empty_home, sql, message):
    with pytest.raises(QueryError) as raised:
        query(empty_home, sql)
    assert str(raised.value) == message


def test_a_query_cannot_read_files_outside_the_zones(empty_home, tmp_path):
    secret = tmp_path / "secret.csv"
    secret.write_text("password\nhunter2\n")
    with pytest.raises(QueryError, match="Permission Error: Cannot access file .*secret.csv"):
        query(empty_home, f"SELECT * FROM read_csv('{secret}')")


def test_no_home_and_a_home_without_zones_are_named_errors(tmp_path):
    with pytest.raises(QueryError, match=r"^no local home at .*nowhere: run `tweetops run-local`"):
        zones_root(tmp_path / "nowhere")
    (tmp_path / "bare").mkdir()
    with pytest.raises(QueryError, match=r"bare: an empty home \(no zones under .*tweetops\)"):
        zones_root(tmp_path / "bare")


# --- the saved queries, checked against pandas -------------------------------------------------------------------

def test_category_shares_are_each_category_s_share_of_the_day_s_messages_of_its_model_version(home):
    predictions = home[1]["predictions"]
    counts = predictions.groupby(["date", "model_version", "category"]).size().rename("messages").reset_index()
    totals = counts.groupby(["date", "model_version"])["messages"].transform("sum")
    expected = counts.assign(share=counts["messages"] / totals).sort_values(
        ["date", "model_version", "messages", "category"], ascending=[True, True, False, True])
    answer = saved(home[0], "category-shares")
    assert answer.columns.tolist() == ["date", "model_version", "category", "messages", "share"]
    assert answer[["date", "model_version", "category", "messages"]].values.tolist() == \
        expected[["date", "model_version", "category", "messages"]].values.tolist()
    assert answer["share"].to_numpy() == pytest.approx(expected["share"].to_numpy(), rel=1e-12)
    # 2024-03-05 was scored by both model versions: each version's shares add up to one on its own.
    assert answer.groupby(["date", "model_version"])["share"].sum().to_numpy() == pytest.approx(1.0)
    assert len(answer[answer["date"] == "2024-03-05"]["model_version"].unique()) == 2


def test_quarantine_reasons_are_counted_per_day_with_their_share_of_the_rows_validated_that_day(home):
    quarantine, reports = home[1]["quarantine"], home[1]["quality_reports"]
    counts = quarantine.groupby(["date", "reason"]).agg(quarantined=("execution", "size"),
                                                       executions=("execution", "nunique")).reset_index()
    rows_in = reports.groupby("date")["rows_in"].sum()
    expected = counts.assign(rows_in=counts["date"].map(rows_in)).sort_values(
        ["date", "quarantined", "reason"], ascending=[True, False, True])
    answer = saved(home[0], "quarantine-reasons")
    assert answer[["date", "reason", "quarantined", "executions"]].values.tolist() == \
        expected[["date", "reason", "quarantined", "executions"]].values.tolist()
    assert answer["rows_in"].astype(int).tolist() == expected["rows_in"].tolist()
    assert answer["share"].to_numpy() == pytest.approx((expected["quarantined"] / expected["rows_in"]).to_numpy())
    assert answer.iloc[0].to_dict() | {"share": None} == {"date": "2024-03-04", "reason": "empty_text",
                                                          "quarantined": 4, "executions": 2, "rows_in": 420,
                                                          "share": None}


def test_drift_history_lists_each_scored_batch_in_scoring_order_with_its_alarms(home):
    metrics = home[1]["batch_metrics"].sort_values(["scored_at", "execution"])
    answer = saved(home[0], "drift-history")
    assert answer["execution"].tolist() == metrics["execution"].tolist() == ["exec-a", "exec-b"]
    assert answer["estimated_accuracy"].tolist() == metrics["estimated_accuracy"].tolist()
    assert answer["data_drift_detected"].tolist() == [0.0, 1.0]
    assert [json.loads(alarms) for alarms in answer["alarms"]] == [[], ["data-drift", "estimated-accuracy"]]
    assert answer["date"].tolist() == ["2024-03-05", "2024-03-06"]


@pytest.mark.parametrize("category, limit", [("billing", 7), ("=HYPERLINK(\"http://x\")", 1000), ("nothing", 5)])
def test_the_messages_of_a_category_come_most_confident_first_up_to_the_limit(home, category, limit):
    predictions = home[1]["predictions"]
    expected = predictions[predictions["category"] == category].sort_values(
        ["confidence", "date", "batch", "id"], ascending=[False, True, True, True]).head(limit)
    answer = saved(home[0], "category-messages", category=category, limit=limit)
    assert answer["id"].tolist() == expected["id"].tolist()
    assert answer["text"].tolist() == expected["text"].tolist()
    assert len(answer) == min(limit, (predictions["category"] == category).sum())


def test_the_default_limit_of_a_category_s_messages_is_twenty(home):
    assert len(saved(home[0], "category-messages", category="billing")) == 20


def test_a_quote_in_a_category_parameter_is_part_of_the_value_never_sql(home):
    assert saved(home[0], "category-messages", category="x' OR '1'='1").empty


def test_map_changes_compare_the_last_written_versions_by_stable_id(home):
    answer = saved(home[0], "map-changes", **{"from": 1, "to": 2})
    assert [values(row) for _, row in answer[["category_id", "change", "from_name", "to_name"]].iterrows()] == [
        ["c2", "renamed", "delivery", "shipping"],
        ["c3", "clusters changed", "cuenta", "cuenta"],
        ["c4", "removed", "misc", None],
        ["c5", "added", None, "fraud"],
        ["c6", "description changed", "login", "login"],
    ]
    assert answer.set_index("category_id").loc["c3", ["from_clusters", "to_clusters"]].tolist() == ["[3]", "[3, 4]"]
    # The earlier draft of version 1 (train-0) is not compared: its c1 "old" would show as renamed.
    assert "c1" not in answer["category_id"].tolist()


def test_map_changes_between_a_version_and_itself_are_none(home):
    assert saved(home[0], "map-changes", **{"from": 2, "to": 2}).empty


@pytest.mark.parametrize("name", list(SAVED_QUERIES))
def test_every_saved_query_runs_on_an_empty_home_and_returns_no_rows(empty_home, name):
    params = {"category": "billing", "from": 1, "to": 2} if SAVED_QUERIES[name].parameters else {}
    params = {key: value for key, value in params.items() if key in {p.name for p in SAVED_QUERIES[name].parameters}}
    assert saved(empty_home, name, **params).empty
