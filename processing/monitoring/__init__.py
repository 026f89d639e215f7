"""Monitoring without labels: the baseline a package is watched against, the drift check of every scored batch,
the performance estimate, and the alarm rules (docs/monitoring.md). Pure functions; the jobs are in jobs.py."""
