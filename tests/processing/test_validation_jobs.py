"""Validation jobs: the batch-transform input is written as objects the transform's instances can share out."""
from __future__ import annotations

from processing.demo_data import generate_messages
from processing.validation_jobs import write_transform_batch, write_transform_objects


def test_a_small_batch_is_one_object(tmp_path):
    messages = generate_messages(40, seed=1, malformed_share=0.0)
    assert write_transform_objects(messages, tmp_path, "messages", rows=40) == [tmp_path / "messages.jsonl"]


def test_a_large_batch_is_split_into_numbered_objects_that_hold_every_message_in_order(tmp_path):
    messages = generate_messages(95, seed=2, malformed_share=0.0)
    objects = write_transform_objects(messages, tmp_path / "parts", "messages", dated=True, rows=30)
    assert [path.name for path in objects] == [f"messages-{n:05d}.jsonl" for n in range(4)]
    whole = write_transform_batch(messages, tmp_path / "whole.jsonl", dated=True)
    assert b"".join(path.read_bytes() for path in sorted(objects)) == whole.read_bytes()
    assert [path.read_bytes().count(b"\n") for path in objects] == [30, 30, 30, 5]
