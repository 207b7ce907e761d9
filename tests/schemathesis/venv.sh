#!/usr/bin/env bash
# Creates (once) the virtualenv with schemathesis, pinned with its dependencies in
# requirements.lock, and prints its path. Several processes may call this at once: flock makes
# the first build it and the rest wait.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${VIGIL_CACHE:-$HOME/.cache/vigil}
venv=$cache/venvs/schemathesis
stamp=$venv/.requirements
mkdir -p "$cache/venvs"
exec 9>"$cache/venvs/schemathesis.lock"
flock 9
if ! cmp -s "$here/requirements.lock" "$stamp" 2>/dev/null; then
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.lock" >&2
  cp "$here/requirements.lock" "$stamp"
fi
echo "$venv"
