"""A corpus of hostile message files, for running through every entry point that reads input.

`write_hostile_corpus(folder)` writes one file per case and returns {case name: path}; EXPECTED says what
validation must make of each: either an IngestError whose one line contains a given text, or the rows read and
the quarantine reasons (and flagged counts) they must get. Used by tests/processing/test_hostile_input.py; the
same files suit discover and predict, where every case must end in outputs or in one clear line.
"""
from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path

# A text that passes every validation rule (Spanish, long enough for language detection).
GOOD = "no me llegó la tarjeta de crédito"
GOOD_EN = "my card was charged twice this month"


@dataclass(frozen=True)
class Expected:
    """What validating one corpus file must give: `error` (text in the IngestError), or rows and reasons."""

    error: str | None = None
    rows_in: int = 0
    accepted: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    flagged: dict[str, int] = field(default_factory=dict)


def _csv(*lines: str, ending: str = "\n") -> str:
    return "".join(line + ending for line in lines)


def _jsonl(*records: object) -> str:
    return "".join((record if isinstance(record, str) else json.dumps(record, ensure_ascii=False)) + "\n"
                   for record in records)


def _cases() -> dict[str, tuple[str | bytes, Expected]]:
    """Case name (the file name) -> (content, what validation must make of it)."""
    deep = "[" * 50_000 + "]" * 50_000
    return {
        "utf8_bom_crlf.csv": ("\ufeff" + _csv("id,text", f"1,{GOOD}", f'2,"{GOOD_EN}\r\nsecond line"', ending="\r\n"),
                              Expected(rows_in=2, accepted=2)),
        "latin1.csv": (_csv("id,text", f"1,{GOOD}", "2,café con leche por favor").encode("latin-1"),
                       Expected(rows_in=2, accepted=0, reasons={"invalid_encoding": 2})),
        "utf16.csv": (_csv("id,text", f"1,{GOOD}").encode("utf-16"), Expected(error="utf16.csv: encoded as UTF-16")),
        "null_bytes.csv": (_csv("id,text", f"1,{GOOD}\x00", f"2,{GOOD}", "3,\x00\x00\x00"),
                           Expected(rows_in=3, accepted=1, reasons={"control_characters": 2})),
        "terminal_escapes.jsonl": (_jsonl({"id": "1", "text": f"\x1b]0;pwned\x07\x1b[2J{GOOD}"},
                                          {"id": "2", "text": GOOD_EN}),
                                   Expected(rows_in=2, accepted=1, reasons={"control_characters": 1})),
        "broken_quotes.csv": (_csv("id,text", f"1,{GOOD}", f'2,"{GOOD} sin cerrar', f"3,{GOOD_EN}",
                                   f'4,"{GOOD}" y más', f"5,{GOOD_EN} again"),
                              Expected(rows_in=5, accepted=3, reasons={"malformed_record": 2})),
        "huge_text.jsonl": (_jsonl({"id": "1", "text": GOOD + " x" * 500_000}, {"id": "2", "text": GOOD}),
                            Expected(rows_in=2, accepted=1, reasons={"text_too_long": 1})),
        "five_thousand_columns.csv": (_csv(",".join(["id", "text"] + [f"c{i}" for i in range(4998)]),
                                           ",".join(["1", GOOD] + ["x"] * 4998)),
                                      Expected(rows_in=1, accepted=1)),
        "deep.json": (deep, Expected(error="deep.json: JSON nested deeper than 64 levels")),
        "deep_line.jsonl": (_jsonl({"id": "1", "text": GOOD}, deep, {"id": "2", "text": GOOD, "x": [[[1]]]}),
                            Expected(rows_in=3, accepted=2, reasons={"malformed_record": 1})),
        "gzip.csv": (gzip.compress(_csv("id,text", f"1,{GOOD}").encode(), mtime=0),
                     Expected(error="gzip.csv: looks like gzip data; decompress it")),
        "binary.csv": (bytes(range(256)) * 16, Expected(error="binary.csv: looks like binary data, not text")),
        "twitter_v2.json": (json.dumps({"data": [{"id": "1460323737035677698", "text": GOOD, "author_id": "22",
                                                  "lang": "es"},
                                                 {"id": "1460323737035677699", "text": GOOD_EN, "lang": "en"}],
                                        "errors": [{"title": "Not Found Error"}],
                                        "meta": {"result_count": 2}}),
                            Expected(rows_in=2, accepted=2)),
        "xss_and_formulas.csv": (_csv("id,text",
                                      f'1,"<script>alert(1)</script> {GOOD}"',
                                      f'2,"=HYPERLINK(""http://evil.example"",""{GOOD_EN}"")"',
                                      f"3,+cmd|' /C calc'!A0 {GOOD}",
                                      f"4,@SUM(1+1) {GOOD_EN}",
                                      f'5,"<img src=x onerror=alert(1)> {GOOD}"'),
                                 Expected(rows_in=5, accepted=5)),
        "rtl_and_zero_width.jsonl": (_jsonl({"id": "1", "text": f"{GOOD} \u202efdp.exe\u202c"},
                                            {"id": "2", "text": f"pa\u200bgo {GOOD}"},
                                            {"id": "3", "text": f"\u2067{GOOD}\u2069 y\ufeff más"},
                                            {"id": "4", "text": GOOD_EN}),
                                     Expected(rows_in=4, accepted=4,
                                              flagged={"bidi_controls": 2, "zero_width_characters": 2})),
        "escape_in_header.csv": (_csv("\x1b[31mid\x1b[0m,text", f"1,{GOOD}"),
                                 Expected(error="escape_in_header.csv: no id column (columns found: \\x1b[31mid")),
        "empty.csv": (b"", Expected(rows_in=0)),
        "header_only.csv": (_csv("id,text"), Expected(rows_in=0)),
        "all_quarantined.jsonl": (_jsonl({"id": "1", "text": ""}, {"text": GOOD}, "not json"),
                                  Expected(rows_in=3, reasons={"empty_text": 1, "missing_id": 1,
                                                               "malformed_record": 1})),
        "lone_cr_line_endings.csv": (_csv("id,text", f"1,{GOOD}", f"2,{GOOD_EN}", ending="\r"),
                                     Expected(rows_in=2, accepted=2)),
    }


EXPECTED: dict[str, Expected] = {name: expected for name, (_, expected) in _cases().items()}


def write_hostile_corpus(folder: str | Path) -> dict[str, Path]:
    """Write every hostile case as a file in `folder` (created); return {case name: path}."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for name, (content, _) in _cases().items():
        path = folder / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
        paths[name] = path
    return paths
