"""Put the locked bytes on disk and check them: plan (pure) then apply for `sync` in the Hugging
Face cache layout, torch.hub's layout or a `--target` folder; streaming downloads hashed as they
arrive and resumed; `verify` offline. May import the base and data layers, hubs/, oci/ (registry
sources) and signing/; never scan/, supply/ or cli/."""
