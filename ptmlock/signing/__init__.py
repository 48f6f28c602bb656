"""Model signatures: the lock says who published the bytes. `policy` (what ptm.toml requires;
pure), `bundle` (the only adapter to the optional `model-signing` library, behind the exit-3
`pip install 'ptmlock[signing]'` guard), `check` (at lock time, at sync, and offline in
`verify --signatures`). May import the base layer, lockfile/, manifest/ and install/ (the
synced files it re-hashes); never hubs/ or cli/."""
