"""issue 16: model signatures. `policy` (what ptm.toml requires; no I/O), `bundle` (the only
adapter to the optional `model-signing` library), `check` (the lock-time and offline checks)."""
