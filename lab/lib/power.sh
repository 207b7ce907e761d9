# shellcheck shell=bash disable=SC2034 # lab/lib/power_cmd.sh uses these
# Power devices for the lab's fake compute hosts (`lab/lab power ...`), for the fencing drivers'
# tests: a private libvirtd with one tiny disk-less qemu (TCG) domain per host, named like the
# host; a Redfish BMC (sushy-tools, libvirt backend, HTTPS + basic auth) over all of them; one
# IPMI BMC (virtualbmc) per domain. Installation, certificates and the services' start.
#
# State lives apart from the cloud lab's ($STATE/power), so `lab/lab down` never touches it and
# `power down` touches nothing else; one power lab per machine (fixed ports), like the cloud's.

PSTATE=${VIGIL_LAB_POWER_STATE:-$STATE/power}
LV=$PSTATE/libvirt
LIBVIRT_SOCK=$LV/sock/libvirt-sock
LIBVIRT_URI="qemu:///system?socket=$LIBVIRT_SOCK"
P_REDFISH=${VIGIL_LAB_REDFISH_PORT:-15870}
P_VBMCD=${VIGIL_LAB_VBMCD_PORT:-15879}
P_IPMI_BASE=${VIGIL_LAB_IPMI_PORT:-15880} # computeN's IPMI endpoint is UDP P_IPMI_BASE + N
# Not secrets: every endpoint listens on loopback only. Tests read them from the files.
POWER_USER=vigil-lab
POWER_PASSWORD=vigil-lab
TLS=$PSTATE/tls
REDFISH_PASSWORD_FILE=$PSTATE/redfish.password
IPMI_PASSWORD_FILE=$PSTATE/ipmi.password
POWER_LOCK=$LAB_DIR/power-requirements.lock
POWER_SERVICES=(libvirtd sushy-emulator vbmcd)
# libvirt-daemon-system for the libvirt-qemu user: a privileged libvirtd looks up its default
# qemu user before it reads qemu.conf, and fails to start without it. Its services are not
# started (no systemd; policy-rc.d).
POWER_PACKAGES=(libvirt-daemon-system libvirt-daemon-driver-qemu libvirt-clients qemu-system-x86 tini
  ipmitool fence-agents openssl libvirt-dev pkg-config gcc jq curl
  qemu-guest-agent busybox-static cpio) # the guest-agent monitor's test guest (lib/guest.sh)

power_venv() { echo "$CACHE/power-venv-$(LOCK=$POWER_LOCK lock_hash)"; }
virsh_() { virsh -q -c "$LIBVIRT_URI" "$@"; }

# Debian packages, only those missing: a warm machine runs no apt at all.
install_power_packages() {
  local p missing=()
  for p in "${POWER_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  log "installing Debian packages: ${missing[*]}"
  local t0=$SECONDS
  apt-get update -qq >/dev/null || die "apt-get update failed"
  # Wait for another apt-get (a parallel install) instead of failing on dpkg's lock.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
    -o DPkg::Lock::Timeout=300 "${missing[@]}" \
    >"$LOG/apt.log" 2>&1 || die "apt-get install failed; see $LOG/apt.log"
  log "Debian packages installed in $((SECONDS - t0)) s"
}

# The pinned Python set, through install.sh's wheel cache and lock (libvirt-python is an sdist:
# `pip wheel` builds it once against libvirt-dev, later installs take the cached wheel).
install_power_venv() {
  # install.sh's globals name the cloud lab's venv again afterwards.
  local lock=$LOCK venv=$VENV bin=$BIN
  LOCK=$POWER_LOCK VENV=$(power_venv)
  BIN=$VENV/bin
  install
  PBIN=$BIN
  LOCK=$lock VENV=$venv BIN=$bin
}

# A CA and a server certificate it signs (IP 127.0.0.1, DNS localhost), as a real BMC's chain:
# rustls refuses a self-signed CA certificate used as the server's own. other-ca.crt signed
# nothing, for tests of a certificate that does not verify.
make_tls() {
  [[ -f $TLS/server.crt ]] && return
  local tmp=$TLS.tmp.$$ ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  mkdir -p "$tmp"
  (
    cd "$tmp"
    openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.crt -days 3650 \
      -subj "/CN=vigil-lab power CA" -addext basicConstraints=critical,CA:TRUE \
      -addext keyUsage=critical,keyCertSign,cRLSign
    openssl req -x509 "${ec[@]}" -keyout other-ca.key -out other-ca.crt -days 3650 \
      -subj "/CN=vigil-lab other CA" -addext basicConstraints=critical,CA:TRUE \
      -addext keyUsage=critical,keyCertSign,cRLSign
    openssl req -new "${ec[@]}" -keyout server.key -out server.csr -subj /CN=127.0.0.1
    printf '%s\n' basicConstraints=critical,CA:FALSE keyUsage=critical,digitalSignature \
      extendedKeyUsage=serverAuth subjectAltName=IP:127.0.0.1,DNS:localhost >server.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile server.ext -out server.crt
    rm -f other-ca.key server.csr server.ext ca.srl
  ) >"$LOG/openssl.log" 2>&1 || die "openssl failed; see $LOG/openssl.log"
  rm -rf "$TLS"
  mv "$tmp" "$TLS"
}

# Password files for the tests, and sushy's users file (bcrypt is the only hash it accepts).
make_credentials() {
  printf '%s' "$POWER_PASSWORD" >"$REDFISH_PASSWORD_FILE"
  printf '%s' "$POWER_PASSWORD" >"$IPMI_PASSWORD_FILE"
  [[ -f $PSTATE/etc/sushy.htpasswd ]] && return
  "$PBIN/python" -c 'import bcrypt, sys
print(sys.argv[1] + ":" + bcrypt.hashpw(sys.argv[2].encode(), bcrypt.gensalt(rounds=4)).decode())' \
    "$POWER_USER" "$POWER_PASSWORD" >"$PSTATE/etc/sushy.htpasswd"
}

write_power_config() {
  mkdir -p "$PSTATE/etc" "$PSTATE/vbmc"
  cat >"$PSTATE/etc/sushy.conf" <<EOF
SUSHY_EMULATOR_LISTEN_IP = '$H'
SUSHY_EMULATOR_LISTEN_PORT = $P_REDFISH
SUSHY_EMULATOR_SSL_CERT = '$TLS/server.crt'
SUSHY_EMULATOR_SSL_KEY = '$TLS/server.key'
SUSHY_EMULATOR_AUTH_FILE = '$PSTATE/etc/sushy.htpasswd'
SUSHY_EMULATOR_LIBVIRT_URI = '$LIBVIRT_URI'
EOF
  cat >"$PSTATE/etc/virtualbmc.conf" <<EOF
[default]
config_dir = $PSTATE/vbmc
pid_file = $PSTATE/vbmc/master.pid
server_port = $P_VBMCD
[log]
logfile = $LOG/vbmcd.log
EOF
  # libvirtd's own configuration, in its private /etc/libvirt. qemu runs as root: Debian's
  # libvirt-qemu user may not exist (no libvirt-daemon-system) and could not read the state.
  mkdir -p "$LV"/{run,lib,log,cache,etc,sock}
  mkdir -p "$LV"/lib/{qemu,images,boot} "$LV"/lib/qemu/{channel/target,dump,nvram,ram,save,snapshot,checkpoint}
  cat >"$LV/etc/libvirtd.conf" <<EOF
unix_sock_dir = "$LV/sock"
unix_sock_group = "root"
unix_sock_rw_perms = "0770"
auth_unix_ro = "none"
auth_unix_rw = "none"
log_outputs = "3:file:/var/log/libvirt/libvirtd.log"
EOF
  printf 'user = "root"\ngroup = "root"\n' >"$LV/etc/qemu.conf"
}

# libvirtd in a private mount namespace whose /etc/libvirt, /run/libvirt, /var/lib/libvirt, ...
# are $LV's, so it cannot meet any other libvirtd; its client socket is outside those, in
# $LV/sock. It runs in the foreground under `tini -s`, a subreaper: libvirt double-forks qemu,
# and this machine's PID 1 reaps the orphans only every ~2 s, which libvirt waits for on every
# destroy. virtlogd runs in the same process group, so `stop` ends both.
start_libvirtd() {
  ((${#LIBVIRT_SOCK} < 108)) || die "libvirt socket path too long for a unix socket: $LIBVIRT_SOCK"
  rm -f "$LIBVIRT_SOCK"
  mkdir -p /run/libvirt /var/lib/libvirt /var/log/libvirt /var/cache/libvirt /etc/libvirt
  # shellcheck disable=SC2016 # expanded by the inner shell
  start libvirtd env LV="$LV" unshare --mount --propagation private -- bash -c '
    set -e
    mount --bind "$LV/run" /run/libvirt
    mount --bind "$LV/lib" /var/lib/libvirt
    mount --bind "$LV/log" /var/log/libvirt
    mount --bind "$LV/cache" /var/cache/libvirt
    mount --bind "$LV/etc" /etc/libvirt
    /usr/sbin/virtlogd -p /run/libvirt/virtlogd.pid &
    exec tini -s -- /usr/sbin/libvirtd -p /run/libvirt/libvirtd.pid -f /etc/libvirt/libvirtd.conf'
  local i
  for ((i = 0; i < 100; i++)); do
    [[ -S $LIBVIRT_SOCK ]] && virsh_ version >/dev/null 2>&1 && return
    alive libvirtd || {
      stop_group libvirtd
      die "libvirtd exited while starting; see $LOG/libvirtd.log"
    }
    sleep 0.1
  done
  die "libvirtd did not answer on $LIBVIRT_SOCK in 10 s; see $LOG/libvirtd.log"
}

# stop_group NAME: stop NAME, then whatever is left of its process group after the leader is
# gone (virtlogd, when libvirtd died first). A group id stays reserved while any member lives.
stop_group() {
  local pgid
  [[ -f $RUN/$1.pid ]] || return 0
  read -r pgid _ <"$RUN/$1.pid" || return 0
  stop "$1"
  group_alive "$pgid" || return 0
  kill -TERM -- "-$pgid" 2>/dev/null || true
  sleep 0.5
  kill -KILL -- "-$pgid" 2>/dev/null || true
}

# A stable UUID per host name, so a host's Redfish system id survives `down` and a new state.
host_uuid() {
  python3 -c 'import sys, uuid; print(uuid.uuid5(uuid.NAMESPACE_URL, "vigil-lab-power/" + sys.argv[1]))' "$1"
}

# The tiny domain: TCG (nested KVM is unreliable here and absent in CI), 32 MiB, no disk, no
# NIC; SeaBIOS finds nothing to boot and idles (~0.5 % of a core).
domain_xml() {
  cat <<EOF
<domain type='qemu'>
  <name>$1</name>
  <uuid>$(host_uuid "$1")</uuid>
  <memory unit='MiB'>32</memory>
  <vcpu>1</vcpu>
  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff><on_reboot>restart</on_reboot><on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <controller type='usb' model='none'/>
    <memballoon model='none'/>
  </devices>
</domain>
EOF
}

# define_domains STARTED_LIBVIRTD: define each host's domain if missing and start it when it was
# just defined or libvirtd just started. A domain a test powered off stays off through later
# `up`s (parallel test processes call `up`), as a killed host does in the cloud lab.
define_domains() {
  local fresh=$1 host new
  for host in $(compute_hosts); do
    new=0
    if ! virsh_ dominfo "$host" >/dev/null 2>&1; then
      domain_xml "$host" >"$PSTATE/etc/$host.xml"
      virsh_ define "$PSTATE/etc/$host.xml" >/dev/null || die "virsh define $host failed"
      new=1
    fi
    if [[ $(virsh_ domstate "$host") != running ]]; then
      if ((new || fresh)); then
        virsh_ start "$host" >/dev/null || die "virsh start $host failed"
      else
        log "$host's domain is $(virsh_ domstate "$host"), left so (lab/lab power on $host)"
      fi
    fi
  done
}

start_sushy() {
  alive sushy-emulator && return
  start sushy-emulator "$PBIN/sushy-emulator" --config "$PSTATE/etc/sushy.conf"
  local i
  for ((i = 0; i < 150; i++)); do
    curl -s -o /dev/null --cacert "$TLS/ca.crt" "https://$H:$P_REDFISH/redfish/v1/" && return
    alive sushy-emulator || die "sushy-emulator exited while starting; see $LOG/sushy-emulator.log"
    sleep 0.2
  done
  die "sushy-emulator did not answer on https://$H:$P_REDFISH in 30 s; see $LOG/sushy-emulator.log"
}

# udp_bound PORT: something has UDP 127.0.0.1:PORT open (no dependency on iproute2's ss).
udp_bound() { grep -qi "^ *[0-9]*: 0100007F:$(printf '%04X' "$1") " /proc/net/udp; }

vbmc() { VIRTUALBMC_CONFIG=$PSTATE/etc/virtualbmc.conf "$PBIN/vbmc" "$@"; }

# vbmcd keeps each BMC's settings in its config_dir and starts the active ones itself when it
# starts; `vbmc add` refuses an existing one, `vbmc start` of a running one is a no-op.
start_vbmc() {
  if ! alive vbmcd; then
    start vbmcd env VIRTUALBMC_CONFIG="$PSTATE/etc/virtualbmc.conf" "$PBIN/vbmcd" --foreground
    local i
    for ((i = 0; i < 100; i++)); do
      port_taken "$P_VBMCD" && break
      alive vbmcd || die "vbmcd exited while starting; see $LOG/vbmcd.log"
      sleep 0.1
    done
  fi
  local host n=0 port
  for host in $(compute_hosts); do
    n=$((n + 1))
    port=$((P_IPMI_BASE + n))
    # Already serving: skip the CLI's round trips (a warm `up` stays fast).
    [[ -d $PSTATE/vbmc/$host ]] && udp_bound "$port" && continue
    if [[ ! -d $PSTATE/vbmc/$host ]]; then
      vbmc add "$host" --address "$H" --port "$port" --username "$POWER_USER" \
        --password "$POWER_PASSWORD" --libvirt-uri "$LIBVIRT_URI" >>"$LOG/vbmc.log" 2>&1 ||
        die "vbmc add $host failed; see $LOG/vbmc.log"
    fi
    vbmc start "$host" >>"$LOG/vbmc.log" 2>&1 || die "vbmc start $host failed; see $LOG/vbmc.log"
  done
}

# Ports held by something `power up` did not start (another checkout's power lab, say).
check_power_ports() {
  local svc port n
  for svc in sushy-emulator:$P_REDFISH vbmcd:$P_VBMCD; do
    port=${svc#*:}
    alive "${svc%%:*}" || ! port_taken "$port" ||
      die "port $port (${svc%%:*}) is taken by a process this power lab did not start;" \
        "another checkout's power lab? stop it with its lab/lab power down"
  done
  alive vbmcd && return
  for ((n = 1; n <= NCOMPUTE; n++)); do
    port=$((P_IPMI_BASE + n))
    ! udp_bound "$port" || die "UDP port $port (IPMI of compute$n) is taken by a process this power lab did not start"
  done
}

# qemu processes are libvirt's, each in a session of its own: after libvirtd is gone, end any
# whose pid file is in this libvirt's private run directory and which is still that guest.
reap_qemu() {
  local f pid name
  for f in "$LV"/run/qemu/*.pid; do
    [[ -f $f ]] || continue
    name=$(basename "$f" .pid)
    pid=$(cat "$f" 2>/dev/null) || continue
    [[ $pid =~ ^[0-9]+$ ]] || continue
    tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline" | grep -q -- "-name guest=$name," || continue
    log "qemu of $name (pid $pid) outlived libvirtd: KILL"
    kill -KILL "$pid" 2>/dev/null || true
    rm -f "$f"
  done
}
