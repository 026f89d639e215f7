"""The local executor: runs the pipeline definition JSON that `upsert` sends, on this machine (no AWS, no Docker)."""
