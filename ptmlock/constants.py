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
POLICIES = ("off", "warn", "strict")
DEFAULT_POLICY = "warn"

ENV_MODE = "PTMLOCK_MODE"
ENV_LOCKFILE = "PTMLOCK_LOCKFILE"
ENV_REPORT = "PTMLOCK_REPORT"
ENV_DEBUG = "PTMLOCK_DEBUG"
ENV_ROLE_PREFIX = "PTMLOCK_ROLE_"
ENV_HUB_TIMEOUT = "PTMLOCK_HUB_TIMEOUT"  # seconds per hub request
ENV_HUB_DEADLINE = "PTMLOCK_HUB_DEADLINE"  # total seconds of retries per model
ENV_JOBS = "PTMLOCK_JOBS"
ENV_TORCHHUB_URL = "PTMLOCK_TORCHHUB_URL"  # git host of torchhub repos

DEFAULT_HUB_TIMEOUT = 10.0
DEFAULT_HUB_DEADLINE = 60.0
DEFAULT_JOBS = 32

# Weight formats that execute code when loaded (pickle), and the safe one.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
SAFE_WEIGHT_SUFFIXES = (".safetensors", ".gguf", ".onnx", ".msgpack", ".h5")
