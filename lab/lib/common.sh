# shellcheck shell=bash disable=SC2034 # the other files use these
# Paths, ports and process supervision shared by every lab command.
#
# Every service runs in its own session (setsid), so its process group id is its PID. A pidfile
# holds that PID and the process's start time (field 22 of /proc/PID/stat): a PID counts as the
# lab's only while both match, so a recycled PID is never signalled.

LAB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${VIGIL_CACHE:-$HOME/.cache/vigil}/lab
STATE=${VIGIL_LAB_STATE:-$LAB_DIR/state}
ETC=$STATE/etc
LOG=$STATE/log
RUN=$STATE/run
DATA=$STATE/data

NCOMPUTE=${VIGIL_LAB_COMPUTES:-3}
VIGIL_URL=${VIGIL_LAB_VIGIL_URL:-http://127.0.0.1:15868}
H=127.0.0.1
# Not a secret: every lab service listens on loopback only.
PW=vigil-lab
P_KEYSTONE=5000 P_PLACEMENT=8778 P_GLANCE=9292 P_NEUTRON=9696 P_NOVA=8774
P_MASAKARI=${VIGIL_LAB_MASAKARI_PORT:-15869}
KS=http://$H:$P_KEYSTONE

# The machine's own MariaDB and RabbitMQ; the lab keeps to its databases and its vhost.
MYSQL_HOST=127.0.0.1 MYSQL_PORT=3306
DB_PREFIX=vigil_lab_
DB_USER=vigil_lab
RABBIT_VHOST=vigil-lab
TRANSPORT=rabbit://guest:guest@$H:5672/$RABBIT_VHOST
DB_URL=mysql+pymysql://$DB_USER:$PW@$MYSQL_HOST:$MYSQL_PORT/$DB_PREFIX

# Services in start order; computes are named after their host.
API_SERVICES=(keystone placement glance neutron nova-api)
NOVA_DAEMONS=(nova-conductor nova-scheduler)
MASAKARI_SERVICES=(masakari-api masakari-engine)

log() { printf '%s lab: %s\n' "$(date +%T)" "$*" >&2; }
die() {
  log "error: $*"
  exit 1
}

compute_hosts() {
  local i
  for ((i = 1; i <= NCOMPUTE; i++)); do echo "compute$i"; done
}

# --- process supervision -------------------------------------------------------------------

# proc_stat PID: prints "STATE STARTTIME" (start time in clock ticks since boot).
proc_stat() {
  local stat
  stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
  # The command name (field 2) may hold spaces; count fields after its closing parenthesis.
  stat=${stat##*) }
  awk '{ print $1, $20 }' <<<"$stat"
}

start_time() { proc_stat "$1" | cut -d' ' -f2; }

pid_of() { # NAME -> PID if the lab started it and it is still running (not a zombie)
  local f=$RUN/$1.pid pid started st now
  [[ -f $f ]] || return 1
  read -r pid started <"$f" || return 1
  read -r st now < <(proc_stat "$pid") || return 1
  [[ $now == "$started" && $st != Z ]] || return 1
  echo "$pid"
}

alive() { pid_of "$1" >/dev/null; }

# start NAME CMD...: run CMD in a new session, output appended to $LOG/NAME.log.
start() {
  local name=$1 pid
  shift
  if pid=$(pid_of "$name"); then
    log "$name already running (pid $pid)"
    return
  fi
  # A background child of a non-interactive shell is not a group leader, so setsid(1) calls
  # setsid(2) and execs in place: $! is the service itself. It must not inherit lock
  # descriptors, or it would hold the locks for as long as it runs: the lab's own (8, 9), and
  # one a caller holds around the whole run, as `flock FILE cargo test` passes on descriptor 3.
  setsid "$@" >>"$LOG/$name.log" 2>&1 </dev/null 3>&- 4>&- 5>&- 6>&- 7>&- 8>&- 9>&- &
  pid=$!
  echo "$pid $(start_time "$pid")" >"$RUN/$name.pid"
  log "started $name (pid $pid)"
}

# signal_group SIGNAL NAME: signal the whole process group of a service the lab started.
signal_group() {
  local pid
  pid=$(pid_of "$2") || return 0
  kill "-$1" -- "-$pid" 2>/dev/null || true
}

# group_alive PGID: some process of the group is still running (zombies do not count: the
# machine's init may reap them late).
group_alive() {
  local p st
  for p in $(pgrep -g "$1"); do
    read -r st _ < <(proc_stat "$p") || continue
    [[ $st != Z ]] && return 0
  done
  return 1
}

# stop NAME...: TERM every group at once, give them 10 s together, then KILL what is left.
stop() {
  local name pid pids=() i any
  for name in "$@"; do
    if pid=$(pid_of "$name"); then
      pids+=("$pid")
      kill -TERM -- "-$pid" 2>/dev/null || true
    fi
  done
  for ((i = 0; i < 50 && ${#pids[@]} > 0; i++)); do
    any=0
    for pid in "${pids[@]}"; do group_alive "$pid" && any=1; done
    ((any)) || break
    sleep 0.2
  done
  for pid in "${pids[@]}"; do
    group_alive "$pid" || continue
    log "process group $pid ignored TERM for 10 s: KILL"
    kill -KILL -- "-$pid" 2>/dev/null || true
  done
  for name in "$@"; do
    [[ -f $RUN/$name.pid ]] && log "stopped $name"
    rm -f "$RUN/$name.pid"
  done
}

# Every service with a pidfile, whether it is running or not.
known_services() {
  local f
  for f in "$RUN"/*.pid; do
    [[ -e $f ]] && basename "$f" .pid
  done
}

# --- waiting -------------------------------------------------------------------------------

# wait_http URL NAME [SECONDS]: until URL answers at all (any status) or NAME dies.
wait_http() {
  local url=$1 name=$2 end=$((SECONDS + ${3:-120}))
  until curl -s -o /dev/null -m 2 "$url"; do
    alive "$name" || die "$name exited while starting; see: lab/lab logs $name"
    ((SECONDS < end)) || die "$name did not answer on $url in ${3:-120} s; see: lab/lab logs $name"
    sleep 0.2
  done
}

# port_taken PORT: something listens on 127.0.0.1:PORT.
port_taken() { (exec 3<>"/dev/tcp/$H/$1") 2>/dev/null; }
