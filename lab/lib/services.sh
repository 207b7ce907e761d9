# shellcheck shell=bash
# The machine's MariaDB and RabbitMQ, first-time database setup, and how each service starts.

mysql_root() { mariadb --no-defaults -h "$MYSQL_HOST" -P "$MYSQL_PORT" -u root "$@"; }

# The machine starts MariaDB and RabbitMQ before a session; start them again if they stopped.
# They are the machine's, not the lab's: `down` leaves them running.
ensure_backing_services() {
  if ! mysql_root -e 'SELECT 1' >/dev/null 2>&1; then
    log "MariaDB is not answering on $MYSQL_HOST:$MYSQL_PORT: starting the machine's mariadbd"
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
    local i
    for ((i = 0; i < 60; i++)); do
      mysql_root -e 'SELECT 1' >/dev/null 2>&1 && break
      sleep 0.5
    done
    mysql_root -e 'SELECT 1' >/dev/null || die "MariaDB did not start"
  fi
  if ! port_taken 5672; then
    log "RabbitMQ is not answering on $H:5672: starting the machine's rabbitmq-server"
    rabbitmq-server -detached >/dev/null 2>&1 </dev/null
    timeout 120 rabbitmqctl -q await_startup >/dev/null || die "RabbitMQ did not start"
  fi
}

# Fresh databases and vhost: a new state directory must not meet rows of an older lab (compute
# node uuids, cell mappings). Only ever called when no lab holds the lab's ports.
reset_backing_state() {
  local db sql=
  for db in placement nova_api nova_cell0 nova_cell1 neutron; do
    sql+="DROP DATABASE IF EXISTS $DB_PREFIX$db; CREATE DATABASE $DB_PREFIX$db;"
  done
  sql+="CREATE USER IF NOT EXISTS '$DB_USER'@'$MYSQL_HOST' IDENTIFIED BY '$PW';"
  sql+="GRANT ALL ON \`${DB_PREFIX//_/\\_}%\`.* TO '$DB_USER'@'$MYSQL_HOST';"
  mysql_root -e "$sql" || die "could not create the lab's databases in MariaDB"
  rabbitmqctl -q delete_vhost "$RABBIT_VHOST" >/dev/null 2>&1 || true
  if ! rabbitmqctl -q add_vhost "$RABBIT_VHOST" >/dev/null ||
    ! rabbitmqctl -q set_permissions -p "$RABBIT_VHOST" guest '.*' '.*' '.*' >/dev/null; then
    die "could not create RabbitMQ vhost $RABBIT_VHOST"
  fi
}

# run_logged NAME CMD...: run CMD, its output in $LOG/init/NAME.log.
run_logged() {
  local name=$1 out=$LOG/init/$1.log
  shift
  mkdir -p "$LOG/init"
  "$@" >>"$out" 2>&1 || {
    tail -n 20 "$out" >&2
    die "$name: '$*' failed; full output in $out"
  }
}

init_keystone() {
  local kc=(--config-file "$ETC/keystone/keystone.conf")
  run_logged keystone "$BIN/keystone-manage" "${kc[@]}" db_sync
  run_logged keystone "$BIN/keystone-manage" "${kc[@]}" fernet_setup --keystone-user root --keystone-group root
  run_logged keystone "$BIN/keystone-manage" "${kc[@]}" credential_setup --keystone-user root --keystone-group root
  run_logged keystone "$BIN/keystone-manage" "${kc[@]}" bootstrap --bootstrap-password "$PW" \
    --bootstrap-admin-url "$KS/v3/" --bootstrap-internal-url "$KS/v3/" \
    --bootstrap-public-url "$KS/v3/" --bootstrap-region-id RegionOne
}

init_nova() {
  local nc=(--config-file "$ETC/nova/nova.conf")
  run_logged nova "$BIN/nova-manage" "${nc[@]}" api_db sync
  run_logged nova "$BIN/nova-manage" "${nc[@]}" cell_v2 map_cell0 --database_connection "${DB_URL}nova_cell0"
  run_logged nova "$BIN/nova-manage" "${nc[@]}" cell_v2 create_cell --name cell1
  run_logged nova "$BIN/nova-manage" "${nc[@]}" db sync
}

# A snapshot of freshly initialised databases and keys, taken by the first init with this
# lock file and this setup code, restored by the next ones: seconds instead of minutes of
# migrations (every CI run starts from a fresh clone). Nothing in it names a path.
snapshot_dir() {
  echo "$CACHE/snapshot-$(cat "$LOCK" "$LAB_DIR/lib/config.sh" "$LAB_DIR/lib/services.sh" |
    sha256sum | cut -c1-12)"
}

snapshot_save() {
  local dir tmp db dbs=()
  dir=$(snapshot_dir)
  tmp=$dir.tmp.$$
  for db in placement nova_api nova_cell0 nova_cell1 neutron; do dbs+=("$DB_PREFIX$db"); done
  mkdir -p "$tmp"
  mariadb-dump --no-defaults -h "$MYSQL_HOST" -P "$MYSQL_PORT" -u root --databases "${dbs[@]}" \
    >"$tmp/mariadb.sql" || die "mariadb-dump of the lab's databases failed"
  cp -r "$DATA/keystone.sqlite" "$DATA/glance.sqlite" "$DATA/fernet-keys" "$DATA/credential-keys" "$tmp/"
  rm -rf "$dir"
  mv "$tmp" "$dir"
}

snapshot_restore() { # DIR
  mysql_root <"$1/mariadb.sql" || die "restoring the lab's databases from $1 failed"
  rm -rf "$DATA/fernet-keys" "$DATA/credential-keys"
  cp -r "$1/keystone.sqlite" "$1/glance.sqlite" "$1/fernet-keys" "$1/credential-keys" "$DATA/"
}

# First `up` of a state directory: databases and keys, from the snapshot when there is one.
init_state() {
  local t0=$SECONDS snapshot
  reset_backing_state
  snapshot=$(snapshot_dir)
  if [[ -f $snapshot/mariadb.sql ]]; then
    snapshot_restore "$snapshot"
    log "databases restored from $snapshot in $((SECONDS - t0)) s"
  else
    log "creating databases (first up with this lock file and setup; then a snapshot is kept)"
    migrate
    snapshot_save
    log "databases ready in $((SECONDS - t0)) s"
  fi
  touch "$STATE/.initialised"
}

# The five projects' migrations are independent, so they run side by side.
migrate() {
  local pids=() pid failed=0
  init_keystone &
  pids+=($!)
  run_logged placement "$BIN/placement-manage" --config-file "$ETC/placement/placement.conf" db sync &
  pids+=($!)
  run_logged glance "$BIN/glance-manage" --config-file "$ETC/glance/glance-api.conf" db_sync &
  pids+=($!)
  run_logged neutron "$BIN/neutron-db-manage" --config-file "$ETC/neutron/neutron.conf" \
    --config-file "$ETC/neutron/plugins/ml2/ml2_conf.ini" upgrade heads &
  pids+=($!)
  init_nova &
  pids+=($!)
  for pid in "${pids[@]}"; do wait "$pid" || failed=1; done
  ((failed == 0)) || die "database setup failed (see above)"
}

start_wsgi() { # NAME PORT MODULE CONFIG_DIR_VARIABLE CONFIG_DIR
  start "$1" env "$4=$5" "$BIN/gunicorn" -c "$LAB_DIR/etc/gunicorn.conf.py" --bind "$H:$2" \
    --access-logfile "$LOG/access/$1.log" "$3"
}

start_service() { # NAME
  local nova=(--config-file "$ETC/nova/nova.conf")
  case $1 in
    keystone) start_wsgi keystone "$P_KEYSTONE" keystone.wsgi.api:application OS_KEYSTONE_CONFIG_DIR "$ETC/keystone" ;;
    placement) start_wsgi placement "$P_PLACEMENT" placement.wsgi.api:application OS_PLACEMENT_CONFIG_DIR "$ETC/placement" ;;
    glance) start_wsgi glance "$P_GLANCE" glance.wsgi.api:application OS_GLANCE_CONFIG_DIR "$ETC/glance" ;;
    neutron) start_wsgi neutron "$P_NEUTRON" neutron.wsgi.api:application OS_NEUTRON_CONFIG_DIR "$ETC/neutron" ;;
    nova-api) start_wsgi nova-api "$P_NOVA" nova.wsgi.osapi_compute:application OS_NOVA_CONFIG_DIR "$ETC/nova" ;;
    nova-conductor | nova-scheduler) start "$1" "$BIN/$1" "${nova[@]}" ;;
    compute* | ghost*) start "$1" "$BIN/nova-compute" "${nova[@]}" --config-file "$ETC/nova/compute/$1.conf" ;;
    # masakari.wsgi.api re-reads its configuration from /etc/masakari whatever
    # OS_MASAKARI_CONFIG_DIR says: run the console script (oslo.service's WSGI server) instead.
    masakari-api | masakari-engine) start "$1" "$BIN/$1" --config-file "$ETC/masakari/masakari.conf" ;;
    *) die "no service named $1" ;;
  esac
}

service_port() { # NAME -> its TCP port, if it has one
  case $1 in
    keystone) echo "$P_KEYSTONE" ;;
    placement) echo "$P_PLACEMENT" ;;
    glance) echo "$P_GLANCE" ;;
    neutron) echo "$P_NEUTRON" ;;
    nova-api) echo "$P_NOVA" ;;
    masakari-api) echo "$P_MASAKARI" ;;
  esac
}

# The state directory of the lab that last started services on this machine.
OWNER_FILE=${TMPDIR:-/tmp}/vigil-lab.owner

# Refuse to start next to a lab this state directory did not start (another checkout's, say):
# its ports are taken, and its databases and vhost are the same as ours. With
# VIGIL_LAB_TAKEOVER=1 (for CI, which runs in a fresh clone), stop that lab first.
check_ports_free() {
  local name port owner
  owner=$(cat "$OWNER_FILE" 2>/dev/null) || owner=
  for name in "$@"; do
    port=$(service_port "$name") || continue
    [[ -n $port ]] || continue
    alive "$name" || ! port_taken "$port" && continue
    if [[ -n $owner && $owner != "$STATE" && -d $owner/run && ${VIGIL_LAB_TAKEOVER:-0} == 1 ]]; then
      log "VIGIL_LAB_TAKEOVER=1: stopping the lab of $owner"
      stop_other_lab "$owner"
      owner=
      port_taken "$port" || continue
    fi
    die "port $port ($name) is taken by a process this lab did not start${owner:+ (the lab of $owner?)};" \
      "stop it with that checkout's lab/lab down, or set VIGIL_LAB_TAKEOVER=1"
  done
}

# stop_other_lab STATE_DIR: every service of another state directory's pidfiles, with the same
# PID and start-time checks as our own.
stop_other_lab() {
  local ours=$RUN names
  RUN=$1/run
  mapfile -t names < <(known_services)
  ((${#names[@]} == 0)) || stop "${names[@]}"
  rm -f "$1/.ready"
  RUN=$ours
}
