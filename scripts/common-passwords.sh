#!/usr/bin/env bash
# Copy the list of common passwords Relay refuses (api/auth/common-passwords.txt.gz) from the
# Django release pinned in requirements-dev.lock: Django's list of the 20,000 most common
# passwords (Royce Williams' list, from leaked password corpora), lower-cased, gzip'd, one a line.
# Relay never imports Django; tests/auth/test_passwords.py fails when the copy is not the current
# one. Run after `make lock` moved Django to a release with another list.
#   usage: scripts/common-passwords.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source=$(.venv/bin/python - <<'PY'
import importlib.util
from pathlib import Path

spec = importlib.util.find_spec("django")
assert spec is not None and spec.origin is not None, "django is not installed: make venv"
print(Path(spec.origin).parent / "contrib" / "auth" / "common-passwords.txt.gz")
PY
)
cp "$source" api/auth/common-passwords.txt.gz
echo "copied $(zcat api/auth/common-passwords.txt.gz | wc -l) passwords from $source"
