# shellcheck shell=bash
# Installs the lab's Python services from the pinned requirements.lock.
#
# Two layers under $VIGIL_CACHE/lab, both shared by every checkout on the machine:
#   wheels/        every pinned distribution as a wheel, downloaded (or built) once;
#   venv-<hash>/   a virtualenv installed from wheels/ alone (--no-index), one per lock file and
#                  Python version, so a checkout with another lock never disturbs a running lab.
# A second install therefore never downloads anything, and a warm `up` installs nothing.

PYTHON=${VIGIL_LAB_PYTHON:-python3.11}
LOCK=$LAB_DIR/requirements.lock

lock_hash() {
  { cat "$LOCK"; "$PYTHON" -c 'import sys; print(sys.version)'; } | sha256sum | cut -c1-12
}

VENV=$CACHE/venv-$(lock_hash)
BIN=$VENV/bin
WHEELS=$CACHE/wheels

# Several labs (checkouts, CI runs) may install at once: one builds, the others wait.
install() {
  mkdir -p "$CACHE"
  exec 8>"$CACHE/install.lock"
  flock 8
  local stamp
  stamp=$WHEELS/.$(lock_hash)
  if [[ ! -f $stamp ]]; then
    log "downloading pinned wheels into $WHEELS (first install on this machine)"
    local t0=$SECONDS
    "$PYTHON" -m pip wheel --quiet --disable-pip-version-check --no-cache-dir \
      --no-deps --wheel-dir "$WHEELS" -r "$LOCK" ||
      die "pip wheel failed; nothing is installed"
    touch "$stamp"
    log "wheels ready in $((SECONDS - t0)) s ($(du -sh "$WHEELS" | cut -f1))"
  fi
  if [[ ! -f $VENV/.installed ]]; then
    log "installing the lab's services into $VENV from the wheel cache"
    local t0=$SECONDS
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    # --no-compile: byte-compiling 170 packages up front takes longer than letting each
    # service compile what it imports on its first start.
    "$BIN/pip" install --quiet --disable-pip-version-check --no-index --find-links "$WHEELS" \
      --no-compile -r "$LOCK" || die "pip install from $WHEELS failed"
    "$BIN/pip" check >/dev/null || die "pip check: the pinned set is inconsistent"
    touch "$VENV/.installed"
    log "installed in $((SECONDS - t0)) s"
  fi
  exec 8>&-
}
