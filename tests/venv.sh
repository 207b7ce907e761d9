#!/usr/bin/env bash
# Creates (once) the virtualenv NAME with what tests/NAME/requirements.lock (or .txt) pins, under
# $VIGIL_CACHE/venvs/NAME, and prints its path:
#
#   tests/venv.sh NAME
#
# The venv is made again whenever the lock file changes. Several processes may call this at
# once: flock makes the first build it and the rest wait.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
name=${1:?usage: tests/venv.sh NAME}
lock=$here/$name/requirements.lock
[ -f "$lock" ] || lock=$here/$name/requirements.txt
cache=${VIGIL_CACHE:-$HOME/.cache/vigil}
venv=$cache/venvs/$name
stamp=$venv/.requirements
mkdir -p "$cache/venvs"
exec 9>"$cache/venvs/$name.lock"
flock 9
if ! cmp -s "$lock" "$stamp" 2>/dev/null; then
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$lock" >&2
  cp "$lock" "$stamp"
fi
echo "$venv"
