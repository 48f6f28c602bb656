"""The pre-filter's first stage drops a loader's name (a method, or a function named for its
download) where its line alone shows it is not code (a comment line, a doctest line, reST or
Markdown quoting it in backticks), and only there: every text below that holds a load in code
must still reach the parser, whatever prose surrounds it, and the analyzer must find that load.
The other rules fire on prose at the first stage, and the second stage (code alone) drops it."""
from __future__ import annotations

import ast
import itertools

import pytest

from ptmlock.scan.analyze import analyze_module
from ptmlock.scan.prefilter import code_bytes_test, may_contain_load, quick_bytes_test

# (imports, the call, is it dropped at the first stage: a method or a download function)
_LOADS = (
    ("from transformers import AutoModel\n", 'AutoModel.from_pretrained("org/model")', True),
    ("from diffusers import DiffusionPipeline\n", 'DiffusionPipeline.from_single_file("https://x/m.ckpt")', True),
    ("import huggingface_hub\n", 'huggingface_hub.hf_hub_download("org/model", "w.bin")', True),
    ("import torch\n", 'torch.hub.load_state_dict_from_url("https://x/w.pth")', True),
    ("import torch\n", 'torch.hub.load("org/repo", "entry")', False),
    ("from sentence_transformers import SentenceTransformer\n", 'SentenceTransformer("org/model")', False),
)

# prose around a load: each is not code
_PROSE = (
    "# {load}\n",
    "    # m = {load}\n",
    '"""\n>>> m = {load}\n"""\n',
    '"""\nExample:\n\n    >>> m = {load}\n    >>> m.eval()\n"""\n',
    '"""Instantiate with [`~{name}`] or `{name}`."""\n',
    '"""As in `{load}`."""\n',  # the backtick follows the call: the second stage drops it
    "x = 1\n#{load}\n",
)

# code that a line-by-line reading could take for prose: each holds the load in code
_CODE = (
    's = """\n>>> """; m = {load}\n',  # the doctest-looking line ends the string
    "s = '''\n>>> ''' if True else 0; m = {load}\n",
    's = "a\\\n>>> "; m = {load}\n',  # the line continues a one-line string, then code
    "m = {load}  # `quoted` in a comment after it\n",
    "m = {load}  # >>> and # after the code\n",
    "m = ({load})\n",
    "if True:\n    m = {load}\n",
)


def _stages(text: str) -> tuple[int, bool, bool]:
    data = text.encode()
    rule = quick_bytes_test(data)
    return rule, rule >= 0 and code_bytes_test(data, rule), may_contain_load(text)


@pytest.mark.parametrize(("load", "prose"), list(itertools.product(_LOADS, _PROSE)))
def test_a_load_named_only_in_prose_is_dropped(load: tuple[str, str, bool], prose: str) -> None:
    imports, call, at_first_stage = load
    text = imports + prose.format(load=call, name=call.split("(")[0])
    rule, code_stage, on_text = _stages(text)
    assert not code_stage and not on_text, text
    if at_first_stage and "As in" not in text:
        assert rule == -1, text
    findings, _ = analyze_module(ast.parse(text), text, "m.py")
    assert not findings  # what the analyzer says too


@pytest.mark.parametrize(("load", "code", "prose"), list(itertools.product(_LOADS, _CODE, ("",) + _PROSE)))
def test_a_load_in_code_passes_both_stages_whatever_prose_is_near(load: tuple[str, str, bool], code: str,
                                                                  prose: str) -> None:
    imports, call, _ = load
    text = imports + prose.format(load=call, name=call.split("(")[0]) + code.format(load=call)
    rule, code_stage, on_text = _stages(text)
    assert rule >= 0 and code_stage and on_text, text
    findings, _ = analyze_module(ast.parse(text), text, "m.py")
    assert findings, text  # the analyzer finds it: the pre-filter must keep the file
