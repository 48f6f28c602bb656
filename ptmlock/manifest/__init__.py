"""The typed `ptm.toml`: models, roles, the guard mode, `[policy]`, `[signing]`, `[[source]]`
and `[tool]`, parsed once with file:line:col errors (`locate`), and byte-preserving edits for
`add`, `remove` and `role`. May import the base layer, signing.policy and oci.layout (pure
parts of the tables it parses); never lockfile/, hubs/ or anything that does I/O beyond reading."""
