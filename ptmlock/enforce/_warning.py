"""`PtmlockWarning`: the category of every warning the runtime guard gives."""
from __future__ import annotations


class PtmlockWarning(UserWarning):
    """A model load the lock does not allow (warn mode), or a guard that cannot check anything.

    Filter it like any warning: `warnings.simplefilter("error", PtmlockWarning)` turns warn
    mode into failures, `-W ignore::ptmlock.enforce.PtmlockWarning` silences it.
    """
