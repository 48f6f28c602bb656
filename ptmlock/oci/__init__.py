"""OCI registries as a model source and a publishing target (issue 15).

`layout` is pure: registry URLs, where a locked model lands (repository and tag), and the CNCF
ModelPack manifest that describes it. `auth` finds credentials and answers registry challenges,
`client` is the registry HTTP API, `publish` pushes locked models, and `source` fetches locked
files from a registry for `ptmlock sync`, checking every byte against ptm.lock.
"""
from __future__ import annotations
