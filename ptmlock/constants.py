"""File names, environment variable names and defaults shared across ptmlock."""
from __future__ import annotations

MANIFEST_NAME = "ptm.toml"
LOCK_NAME = "ptm.lock"
LOCK_GUARD_SUFFIX = ".lck"  # run locks: <user cache>/ptmlock/run-locks/<hash of project path>.lck

LOCK_VERSION = 1

HUB_HUGGINGFACE = "huggingface"
HUB_TORCHHUB = "torchhub"
HUB_URL = "url"
HUBS = (HUB_HUGGINGFACE, HUB_TORCHHUB, HUB_URL)
DEFAULT_HUB = HUB_HUGGINGFACE

REPO_TYPES = ("model", "dataset")
# The guard mode (`PTMLOCK_MODE`, else `[project] policy` in ptm.toml), not the `[policy]` table.
MODE_OFF, MODE_WARN, MODE_STRICT = "off", "warn", "strict"
GUARD_MODES = (MODE_OFF, MODE_WARN, MODE_STRICT)
DEFAULT_GUARD_MODE = MODE_WARN

ENV_MODE = "PTMLOCK_MODE"
ENV_LOCKFILE = "PTMLOCK_LOCKFILE"
ENV_REPORT = "PTMLOCK_REPORT"
ENV_DEBUG = "PTMLOCK_DEBUG"
ENV_ROLE_PREFIX = "PTMLOCK_ROLE_"
ENV_HUB_TIMEOUT = "PTMLOCK_HUB_TIMEOUT"  # seconds per hub request
ENV_HUB_DEADLINE = "PTMLOCK_HUB_DEADLINE"  # total seconds one hub interaction may take without progress
ENV_STALL_TIMEOUT = "PTMLOCK_STALL_TIMEOUT"  # seconds a download may go under 1 KiB/s before it is cut
ENV_JOBS = "PTMLOCK_JOBS"
ENV_URL_MIRROR = "PTMLOCK_URL_MIRROR"  # "PREFIX=REPLACEMENT[,...]": where url-hub files are fetched from
ENV_MAX_ANSWER_BYTES = "PTMLOCK_MAX_ANSWER_BYTES"  # cap on one JSON answer of a hub (issue 11)
ENV_TORCHHUB_URL = "PTMLOCK_TORCHHUB_URL"  # git host of torchhub repos

DEFAULT_HUB_TIMEOUT = 10.0
DEFAULT_HUB_DEADLINE = 60.0
DEFAULT_STALL_TIMEOUT = 30.0
DEFAULT_JOBS = 32
DEFAULT_MAX_ANSWER_BYTES = 64 * 1024 * 1024  # the Hub's answer for a 100k-file repo is ~20 MB

# Weight formats that execute code when loaded (pickle), and the safe one.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
SAFE_WEIGHT_SUFFIXES = (".safetensors", ".gguf", ".onnx", ".msgpack", ".h5")


def role_env_var(role: str) -> str:
    """`PTMLOCK_ROLE_<ROLE>`: the variable that selects a member of `role` at run time (the role
    upper-cased, with `-` and `.` as `_`)."""
    return ENV_ROLE_PREFIX + role.upper().replace("-", "_").replace(".", "_")
