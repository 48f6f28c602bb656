"""OCI registries as a model source (`[[source]]` in ptm.toml) and a publishing target
(`ptmlock publish`). May import the base layer (_net for the network rules), lockfile/ and
install/ (hashing, the cache layout); never hubs/ or cli/.

`layout` is pure: registry URLs, where a locked model lands (repository and tag), and the CNCF
ModelPack manifest that describes it. `auth` finds credentials and answers registry challenges,
`client` is the registry HTTP API, `publish` pushes locked models, and `source` fetches locked
files from a registry for `ptmlock sync`, checking every byte against ptm.lock.
"""
from __future__ import annotations
