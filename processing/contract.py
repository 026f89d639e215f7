"""The message record contract (../shared/DESIGN.md, "Contracts") and the quarantine reasons.

Every module that reads or writes messages takes its field names, limits and reason codes from here.
"""
from __future__ import annotations

REQUIRED_FIELDS = ("id", "text")
OPTIONAL_FIELDS = ("created_at", "lang", "source", "user_id", "label")
FIELDS = REQUIRED_FIELDS + OPTIONAL_FIELDS

# `user_id` is personal data: it is kept in the accepted zone for lineage but never written to reports.
PERSONAL_FIELDS = ("user_id",)

LANGUAGES = ("es", "en", "other")
DEFAULT_LANGUAGES = ("es", "en")

# Longer than any tweet (280) or typical chat turn; longer texts are usually pasted logs or spam.
DEFAULT_MAX_TEXT_CHARS = 1000

# Quarantine reasons: one per quarantined row, the first rule the row breaks, checked in this order.
QUARANTINE_REASONS = {
    "malformed_record": "the row could not be parsed into a record (broken JSON line, wrong CSV field count)",
    "invalid_encoding": "the text is not valid UTF-8",
    "control_characters": "the text holds a control character other than tab, line feed or carriage return "
                          "(NUL, escape sequences, ...)",
    "missing_id": "the id field is absent or empty",
    "missing_text": "the text field is absent or null",
    "invalid_type": "a field has the wrong type (e.g. text is not a string, created_at is not ISO 8601)",
    "duplicate_id": "the id was already seen earlier in the batch (the first occurrence is kept)",
    "empty_text": "the text is empty or only whitespace",
    "text_too_long": "the text is longer than the configured limit",
    "url_only": "the text holds nothing but URLs",
    "emoji_only": "the text holds nothing but emojis, symbols or punctuation",
    "unsupported_language": "the message's language is outside the configured set",
}

# Columns of a quarantine record (JSON Lines, one object per quarantined row). `line` is the physical line the
# record starts on in a CSV or JSON Lines file (null for JSON and Parquet).
QUARANTINE_COLUMNS = ("source_file", "row_number", "line", "reason", "detail", "record")

# Invisible characters that are kept in a message but counted in the quality report (and warned about): they can
# make text display in an order other than its logical one, or hide content, in front of a reviewer.
BIDI_CONTROL_CHARACTERS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
ZERO_WIDTH_CHARACTERS = "\u200b\u200c\u200d\u2060\ufeff"
