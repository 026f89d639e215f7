"""The new-data zone: accepted messages of scored batches, partitioned by date, for the next exploration.

Each scored batch adds one file per date it holds, `date=YYYY-MM-DD/<batch>.parquet`, with the message (id, text,
lang, created_at), what the model said of it (category, confidence, novel, model and category-map versions) and
where it came from (batch, scored_at). A message's date is its created_at date when that is a valid time no later
than the scoring, else the scoring date. The evolution job reads a window of the last N days of partitions.
"""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Iterable

import pandas as pd

PARTITION = re.compile(r"^date=(\d{4}-\d{2}-\d{2})$")
BATCH_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")  # becomes a file name: no separators, no dot files
ZONE_COLUMNS = ("id", "text", "lang", "created_at", "batch", "category", "confidence", "novel", "model_version",
                "category_map_version", "scored_at")
WINDOW_COLUMNS = (*ZONE_COLUMNS, "date")


def batch_file_name(batch: str) -> str:
    """`<batch>.parquet`, for a batch name that is safe as a file name (ValueError otherwise)."""
    if not isinstance(batch, str) or not BATCH_NAME.match(batch):
        raise ValueError(f"batch name {batch!r} must be 1-128 letters, digits, '.', '_' or '-' (not starting "
                         "with a dot or dash): it names the batch's file in the new-data zone")
    return f"{batch}.parquet"


def scoring_time(scored_on: str | dt.datetime | dt.date) -> pd.Timestamp:
    """The batch's scoring time in UTC (a date counts as its midnight); ValueError naming a bad value."""
    stamp = pd.to_datetime(_iso(scored_on), format="ISO8601", utc=True, errors="coerce")
    if pd.isna(stamp) and isinstance(scored_on, str) and scored_on.strip():
        # Not ISO 8601: a pipeline's start time as the service renders it may be another common form.
        stamp = pd.to_datetime(scored_on, utc=True, errors="coerce")
    if pd.isna(stamp):
        raise ValueError(f"scored_on {scored_on!r} is not an ISO 8601 date or time")
    return stamp


def _iso(value):
    """A datetime as ISO 8601 text; anything else as it is (None stays None)."""
    return value.isoformat() if hasattr(value, "isoformat") else value


def _text_or_none(values: pd.Series) -> pd.Series:
    """Values as text (datetimes in ISO 8601), missing ones (None, NaN, NaT) as None."""
    if _all_text(values):  # nothing to convert: skip a Python call per value
        return values.astype(object)
    return values.map(lambda value: None if value is None or (not isinstance(value, str) and pd.isna(value))
                      else str(_iso(value))).astype(object)


def _all_text(values: pd.Series) -> bool:
    """Whether every value is a str (none missing), which _iso and str leave as it is."""
    if isinstance(values.dtype, pd.StringDtype):
        return not values.hasnans
    return values.dtype == object and set(map(type, values)) <= {str}


def message_dates(created_at: pd.Series, scored: pd.Timestamp) -> pd.Series:
    """Each message's partition date: its created_at date when valid and not after the scoring, else the scoring date."""
    texts = created_at if _all_text(created_at) else created_at.map(_iso)
    created = pd.to_datetime(texts, format="ISO8601", utc=True, errors="coerce")
    # A message cannot have been written after it was scored: a clock that says so is not trusted.
    usable = created.notna() & (created <= scored)
    return created.where(usable, scored).dt.strftime("%Y-%m-%d")


def accumulate_rows(messages: pd.DataFrame, predictions: pd.DataFrame, novel_ids: Iterable[str], batch: str,
                    scored_on: str | dt.datetime | dt.date) -> dict[str, pd.DataFrame]:
    """The scored messages of one batch as new-data rows, by partition date (YYYY-MM-DD -> rows in batch order).

    messages: the batch-transform input (id, text, lang, created_at optional); predictions: its batch-transform
    output (processing.predictions.read_predictions); novel_ids: the batch's novelty queue. A message is novel when
    its prediction or the queue says so. Messages the model could not score (an `error`) are not added.
    """
    batch_file_name(batch)
    scored = scoring_time(scored_on)
    messages = messages.assign(id=messages["id"].astype(str)).drop_duplicates("id", keep="last")
    predictions = predictions[predictions["error"].isna()] if "error" in predictions else predictions
    predictions = predictions.assign(id=predictions["id"].astype(str)).drop_duplicates("id", keep="last")
    rows = messages.reset_index(drop=True).merge(
        predictions[["id", "category", "confidence", "novel", "model_version", "category_map_version"]],
        on="id", how="inner", sort=False)
    queued = set(map(str, novel_ids))
    created = rows["created_at"] if "created_at" in rows else pd.Series(None, index=rows.index, dtype=object)
    frame = pd.DataFrame({
        "id": rows["id"],
        "text": rows["text"].astype(str),
        "lang": _text_or_none(rows["lang"]) if "lang" in rows else None,
        "created_at": _text_or_none(created),
        "batch": batch,
        "category": _text_or_none(rows["category"]),
        "confidence": pd.to_numeric(rows["confidence"], errors="coerce").astype(float),
        "novel": rows["novel"].fillna(False).astype(bool) | rows["id"].isin(queued),
        "model_version": _text_or_none(rows["model_version"]),
        "category_map_version": pd.to_numeric(rows["category_map_version"], errors="coerce").astype("Int64"),
        "scored_at": scored.isoformat(),
    })
    dates = message_dates(created, scored)
    return {date: part.reset_index(drop=True) for date, part in frame.groupby(dates.to_numpy(), sort=True)}


def parse_day(value: str | dt.date, what: str = "as_of") -> dt.date:
    """A YYYY-MM-DD day (ValueError naming `what` otherwise)."""
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{what} {value!r} is not a date (YYYY-MM-DD)") from None


def partitions(folder: str | Path) -> tuple[dict[dt.date, Path], list[str]]:
    """The zone's date partitions, and a warning for every other entry that is not a hidden one."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: no new-data zone (scored batches accumulate there: run predict first)")
    found, warnings = {}, []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue  # staging and temporary files are not data
        match = PARTITION.match(entry.name)
        day = _day_or_none(match[1]) if match and entry.is_dir() else None
        if day is None:
            warnings.append(f"skipped {entry.name!r}: not a date=YYYY-MM-DD partition folder")
        else:
            found[day] = entry
    return found, warnings


def _day_or_none(text: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        return None


def read_partition(folder: Path) -> pd.DataFrame:
    """Every batch file of one partition, in name order (ValueError naming an unreadable file)."""
    frames = []
    for path in sorted(folder.glob("*.parquet")):
        if path.name.startswith("."):
            continue
        try:
            frame = pd.read_parquet(path)
        except Exception as error:  # pyarrow raises its own types for a damaged or foreign file
            raise ValueError(f"{path}: not a new-data parquet file ({type(error).__name__})") from None
        missing = {"id", "text"} - set(frame.columns)
        if missing:
            raise ValueError(f"{path}: not a new-data file (no {', '.join(sorted(missing))} column)")
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(ZONE_COLUMNS))


def read_window(folder: str | Path, window_days: int, as_of: str | dt.date | None = None
                ) -> tuple[pd.DataFrame, dict]:
    """The messages of the partitions dated in (as_of - window_days, as_of] (as_of: default the latest partition),
    with a `date` column; an id scored in several batches is kept once, from the latest scoring. Returns
    (messages, window_info)."""
    if isinstance(window_days, bool) or not isinstance(window_days, int) or window_days < 1:
        raise ValueError(f"window_days must be a whole number of days >= 1, got {window_days!r}")
    found, warnings = partitions(folder)
    if not found:
        raise ValueError(f"{folder}: the new-data zone has no date=YYYY-MM-DD partitions (run predict first)")
    last = parse_day(as_of) if as_of not in (None, "") else max(found)
    first = last - dt.timedelta(days=window_days - 1)
    frames = [read_partition(found[day]).assign(date=day.isoformat()) for day in sorted(found) if first <= day <= last]
    window = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(WINDOW_COLUMNS))
    window["id"] = window["id"].astype(str)
    order = window.assign(_row=range(len(window)))
    if "scored_at" not in order:
        order["scored_at"] = None
    if "batch" not in order:
        order["batch"] = None
    # The latest scoring wins; ties (same time) by batch name, then by position: the same zone gives the same window.
    latest = order.sort_values(["scored_at", "batch", "_row"], na_position="first", kind="stable")
    kept = latest.drop_duplicates("id", keep="last").sort_values("_row", kind="stable")
    window = kept.drop(columns="_row").reset_index(drop=True)
    novel = window["novel"].fillna(False).astype(bool) if "novel" in window else pd.Series(False, index=window.index)
    info = {"days": window_days, "from": first.isoformat(), "to": last.isoformat(), "messages": int(len(window)),
            "novel": int(novel.sum()), "duplicates": int(len(order) - len(kept)),
            "dates": {str(date): int(count) for date, count in window["date"].value_counts().sort_index().items()},
            "batches": int(window["batch"].nunique()) if "batch" in window else 0,
            "warnings": warnings}
    return window, info
