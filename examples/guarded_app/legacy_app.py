"""The same loads in a program that knows nothing about ptmlock: run it as
`ptmlock run -- python legacy_app.py` to put it under the guard without editing it."""
import json

from huggingface_hub import hf_hub_download

path = hf_hub_download("demo/tiny-bert", "config.json")
print(f"loaded {path} ({json.load(open(path)).get('model_type')})")
