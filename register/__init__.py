"""Model Registry: registration metadata and approval workflow (built out by the registry issue)."""
