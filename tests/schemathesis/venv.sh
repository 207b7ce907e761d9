#!/usr/bin/env bash
# Creates (once) the virtualenv with schemathesis, pinned with its dependencies in
# requirements.lock, and prints its path (tests/venv.sh).
exec "$(dirname "$0")/../venv.sh" schemathesis
