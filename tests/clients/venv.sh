#!/usr/bin/env bash
# Creates (once) the virtualenv with the real OpenStack/Masakari clients, pinned in
# requirements.txt, and prints its path (tests/venv.sh).
exec "$(dirname "$0")/../venv.sh" clients
