"""Supply-chain verbs over a fresh lock: `audit` (the `[policy]` rules, and `--deep` pickle
inspection in `pickles/`), `export` (CycloneDX ML-BOM, SARIF), licences, `outdated`/`update`.
May import the base and data layers, hubs/, resolver and project; never cli/ or enforce/."""
