"""Pipeline builders, the `tweetops` CLI and the local executor."""
