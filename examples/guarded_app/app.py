"""A small application under the ptmlock runtime guard.

It loads the text encoder its role selects and the speech model, by name and without any
revision, and prints what it got: the guard pins each load to the commit in ptm.lock. With
`--unlisted` it also tries a model ptm.toml does not declare, which the strict guard refuses
before anything is sent to the hub.

    python app.py [--unlisted]
    PTMLOCK_ROLE_TEXT_ENCODER=demo/tiny-roberta python app.py
"""
from __future__ import annotations

import ptmlock.enforce  # first: turns the guard on (it also works after the ML imports)

import json
import sys

import ptmlock
import ptmlock.errors
from huggingface_hub import hf_hub_download, snapshot_download


def main() -> int:
    try:
        encoder, revision = ptmlock.select("text-encoder")
    except ptmlock.errors.PtmlockError as e:  # e.g. PTMLOCK_ROLE_TEXT_ENCODER names a model outside the role
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    config = json.load(open(hf_hub_download(encoder, "config.json", revision=revision)))
    speech = snapshot_download("demo/tiny-whisper")  # no revision: the guard injects the pinned commit
    print(f"text-encoder: {encoder} @ {revision[:12]} ({config.get('model_type')})")
    print(f"speech:       demo/tiny-whisper -> {speech}")
    if "--unlisted" in sys.argv:
        try:
            hf_hub_download("demo/not-declared", "config.json")
        except ptmlock.enforce.GuardError as e:
            print(f"refused: {e}")
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
