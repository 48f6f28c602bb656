"""Transitive model dependencies: which other hub entries a locked model needs to load (a peft
adapter's base model, `auto_map` code in another repo, a pipeline's components), found in its
config files, and the weight URLs a torchhub repo's `hubconf.py` downloads (`hubconf.py`, with
the scanner), added to the lock with the reason. May import the base layer, the data layer
(manifest, lockfile), hubs/, scan/ (library tables), decide and pins; never install/ or cli/."""
