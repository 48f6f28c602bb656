"""What `ptmlock list` and `ptmlock tree` show: models by role with their pins and sizes, and
each model's transitive dependencies, as data for the CLI to render or print as JSON. May
import the base and data layers, deps/ and hubs/ (`tree --outdated` only); never install/."""
