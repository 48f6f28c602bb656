"""Static scan of code, notebooks, configs and shell scripts for model loads, without running
them: which library loads which hub entry (`loaders`, `analyze`), named as that library fetches
it (`identity`, from the generated `registry.json`). May import only the base layer; every
other layer may import it."""
