#!/usr/bin/env bash
# The plain-install job (issue 24): `pip install .` and nothing else in a fresh venv, then every
# verb once (tests/plain_install/every_verb.py) and the import check against the installed
# Requires-Dist; then each extra installed alone once, and its verbs: `signing` locks, syncs and
# verifies a signed model; `test-core` (the torch-free test half) collects the suite with `-m "not
# ml"` and runs the dependency test. `test-ml` is torch: .ci/run's own venv installs it. No torch here.
# pip's own cache is reused between runs (PIP_CACHE_DIR or ~/.cache/pip); run by .ci/run.
#   tests/plain_install/run.sh [VENV_PARENT]     (default: a temporary folder, removed after)
set -euo pipefail
cd "$(dirname "$0")/../.."
parent="${1:-$(mktemp -d -t ptmlock-plain-XXXXXX)}"
[ -n "${1:-}" ] || trap 'rm -rf "$parent"' EXIT
unset PYTHONPATH  # only what pip installed
export PIP_DISABLE_PIP_VERSION_CHECK=1
start=$SECONDS

for extra in "" signing test-core; do
    venv="$parent/venv${extra:+-$extra}"
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q ".${extra:+[$extra]}"
    (root="$PWD"; cd "$parent" && "$venv/bin/python" -c "import ptmlock; assert '$root' not in ptmlock.__file__, ptmlock.__file__")
    if "$venv/bin/python" -c "import torch" 2>/dev/null; then echo "torch is installed in the plain venv"; exit 1; fi
    echo "== pip install .${extra:+[$extra]}: $(du -sm "$venv" | cut -f1) MB installed"
    if [ -z "$extra" ]; then
        "$venv/bin/python" tests/plain_install/check_imports.py
        "$venv/bin/python" tests/plain_install/every_verb.py
    elif [ "$extra" = signing ]; then
        "$venv/bin/python" tests/plain_install/every_verb.py --extra "$extra"
    else  # the torch-free half of the suite: every test module imports without the ML libraries
        "$venv/bin/python" -m pytest -q -p no:cacheprovider --collect-only -m "not ml" | tail -1
        "$venv/bin/python" -m pytest -q -p no:cacheprovider tests/test_dependencies.py
    fi
done
echo "== plain-install job green in $((SECONDS - start)) s"
