"""The pre-commit / CI gate (`ptmlock check`: PTM001 stale lock, PTM002 undeclared load, PTM003
contradicting revision) and `init --from-code` (a starter manifest from what scan finds). May
import the base and data layers, scan/, decide and pins; never hubs/ or install/ (it is offline)."""
