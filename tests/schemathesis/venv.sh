#!/usr/bin/env bash
# Creates (once) the virtualenv with schemathesis, pinned in requirements.txt, and prints its
# path. Several processes may call this at once: flock makes the first build it and the rest wait.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${VIGIL_CACHE:-$HOME/.cache/vigil}
venv=$cache/schemathesis-venv
stamp=$venv/.requirements
mkdir -p "$cache"
exec 9>"$cache/schemathesis-venv.lock"
flock 9
if ! cmp -s "$here/requirements.txt" "$stamp" 2>/dev/null; then
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt" >&2
  cp "$here/requirements.txt" "$stamp"
fi
echo "$venv"
