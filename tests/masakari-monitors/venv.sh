#!/usr/bin/env bash
# Creates (once) the virtualenv with the real masakari-monitors, pinned with its dependencies
# in requirements.lock, and prints its path (tests/venv.sh).
exec "$(dirname "$0")/../venv.sh" masakari-monitors
