# shellcheck shell=bash
# `lab/lab power up|down|status|env|on|off`: the power lab's commands (lab/lib/power.sh has the
# pieces). Its own pidfiles and logs ($PSTATE/run, $PSTATE/log) and its own machine-wide lock,
# so it never waits for, nor touches, the cloud lab's.

power_usage() {
  cat >&2 <<'EOF'
usage: lab/lab power up                  install on first use, start libvirtd, the domains and the BMCs
       lab/lab power down                stop what `power up` started (domains destroyed first)
       lab/lab power status [--format json]
       lab/lab power env                 VIGIL_LAB_REDFISH_* / VIGIL_LAB_IPMI_* variables for `eval`
       lab/lab power on|off HOST         the domain of HOST, straight through libvirt
       lab/lab power guest               build the test guest with qemu-ga if missing; print its directory
EOF
  exit 2
}

power_lock() {
  mkdir -p "$PSTATE/run" "$PSTATE/log" "$PSTATE/etc"
  exec 7>"${TMPDIR:-/tmp}/vigil-lab-power.lock"
  flock 7
}

power_up() {
  local t0=$SECONDS fresh=0
  power_lock
  install_power_packages
  install_power_venv
  check_power_ports
  make_tls
  write_power_config
  make_credentials
  if ! alive libvirtd; then
    # What a libvirtd that died leaves behind: its virtlogd, and qemus that PID 1 would now
    # reap (slowly); their domains start again under the new libvirtd's tini.
    stop_group libvirtd
    reap_qemu
    start_libvirtd
    fresh=1
  fi
  define_domains "$fresh"
  build_guest
  start_sushy
  start_vbmc
  touch "$PSTATE/.ready"
  power_status >&2
  log "power lab up in $((SECONDS - t0)) s (lab/lab power status [--format json]; lab/lab power env)"
}

power_down() {
  power_lock
  local host
  if alive libvirtd; then
    for host in $(virsh_ list --name 2>/dev/null); do
      virsh_ destroy "$host" >/dev/null 2>&1 || log "virsh destroy $host failed"
    done
  fi
  stop sushy-emulator vbmcd
  stop_group libvirtd
  reap_qemu
  rm -f "$PSTATE/.ready"
}

# One line per host: NAME UUID STATE IPMI_PORT (state "undefined" when libvirtd does not know
# it, "unknown" when libvirtd is down).
host_rows() {
  local host n=0 state
  for host in $(compute_hosts); do
    n=$((n + 1))
    if alive libvirtd; then
      state=$(virsh_ domstate "$host" 2>/dev/null) || state=undefined
    else
      state=unknown
    fi
    echo "$host $(host_uuid "$host") ${state// /-} $((P_IPMI_BASE + n))"
  done
}

service_rows() {
  local name pid
  for name in "${POWER_SERVICES[@]}"; do
    if pid=$(pid_of "$name"); then echo "$name $pid running"; else echo "$name 0 stopped"; fi
  done
}

power_status() {
  local format=text
  [[ ${1:-} == --format ]] && format=${2:-}
  local base=https://$H:$P_REDFISH
  case $format in
    json)
      jq -n -c --arg uri "$LIBVIRT_URI" --arg base "$base" --arg ca "$TLS/ca.crt" \
        --arg other "$TLS/other-ca.crt" --arg user "$POWER_USER" --arg rpw "$REDFISH_PASSWORD_FILE" \
        --arg ipw "$IPMI_PASSWORD_FILE" --arg h "$H" --arg state "$PSTATE" --arg guest "$(current_guest)" \
        --argjson ready "$([[ -f $PSTATE/.ready ]] && echo true || echo false)" \
        --arg services "$(service_rows)" --arg hosts "$(host_rows)" '
        def rows: split("\n") | map(select(length > 0) | split(" "));
        {ready: $ready, state_dir: $state, libvirt_uri: $uri,
         guest: (if $guest == "" then null
                 else {kernel: ($guest + "/vmlinuz"), initrd: ($guest + "/initramfs.cpio.gz")} end),
         services: [$services | rows[] | {name: .[0], pid: (.[1] | tonumber), state: .[2]}],
         redfish: {url: $base, systems_url: ($base + "/redfish/v1/Systems"), ca_file: $ca,
                   untrusted_ca_file: $other, username: $user, password_file: $rpw},
         ipmi: {address: $h, username: $user, password_file: $ipw},
         hosts: [$hosts | rows[] | {name: .[0], domain: .[0], uuid: .[1],
                  state: (.[2] | gsub("-"; " ")),
                  power: (if .[2] == "running" then "on" elif .[2] == "shut-off" then "off" else "unknown" end),
                  redfish_system_id: .[1],
                  redfish_system_url: ($base + "/redfish/v1/Systems/" + .[1]),
                  ipmi_port: (.[3] | tonumber)}]}'
      ;;
    text)
      local name pid state uuid port
      printf '%-16s %8s %s\n' SERVICE PID STATE
      while read -r name pid state; do printf '%-16s %8s %s\n' "$name" "$pid" "$state"; done < <(service_rows)
      printf '\n%-10s %-36s %-10s %s\n' HOST 'REDFISH SYSTEM ID (= domain uuid)' DOMAIN IPMI_PORT
      while read -r name uuid state port; do
        printf '%-10s %-36s %-10s %s\n' "$name" "$uuid" "${state//-/ }" "$port"
      done < <(host_rows)
      printf '\nRedfish   %s/redfish/v1/Systems  CA %s\n' "$base" "$TLS/ca.crt"
      printf 'IPMI      %s (lanplus), UDP port per host above\n' "$H"
      printf 'user      %s  password files %s, %s\n' "$POWER_USER" "$REDFISH_PASSWORD_FILE" "$IPMI_PASSWORD_FILE"
      printf 'libvirt   %s\n' "$LIBVIRT_URI"
      ;;
    *) die "--format must be text or json" ;;
  esac
}

power_env() {
  echo "# The lab's power devices: eval \"\$(lab/lab power env)\"; per host: lab/lab power status --format json"
  echo "export VIGIL_LAB_LIBVIRT_URI='$LIBVIRT_URI'"
  echo "export VIGIL_LAB_REDFISH_URL=https://$H:$P_REDFISH"
  echo "export VIGIL_LAB_REDFISH_CA=$TLS/ca.crt"
  echo "export VIGIL_LAB_REDFISH_USER=$POWER_USER"
  echo "export VIGIL_LAB_REDFISH_PASSWORD_FILE=$REDFISH_PASSWORD_FILE"
  echo "export VIGIL_LAB_IPMI_HOST=$H"
  echo "export VIGIL_LAB_IPMI_PORT_BASE=$P_IPMI_BASE"
  echo "export VIGIL_LAB_IPMI_USER=$POWER_USER"
  echo "export VIGIL_LAB_IPMI_PASSWORD_FILE=$IPMI_PASSWORD_FILE"
}

power_switch() { # on|off HOST
  if [[ -z ${2:-} ]] || ! compute_hosts | grep -qx -- "$2"; then
    die "no power lab host ${2:-} (hosts: $(compute_hosts | paste -sd' '))"
  fi
  alive libvirtd || die "the power lab is not up (lab/lab power up)"
  if [[ $1 == on ]]; then
    [[ $(virsh_ domstate "$2") == running ]] || virsh_ start "$2" >/dev/null
  else
    [[ $(virsh_ domstate "$2") != running ]] || virsh_ destroy "$2" >/dev/null
  fi
  log "$2: $(virsh_ domstate "$2")"
}

cmd_power() {
  # The power lab's own pidfiles and logs: `start`, `stop`, `alive` use RUN and LOG.
  # shellcheck disable=SC2034
  RUN=$PSTATE/run LOG=$PSTATE/log
  local sub=${1:-}
  (($#)) && shift
  case $sub in
    up) power_up ;;
    down) power_down ;;
    status) power_status "$@" ;;
    env) power_env ;;
    on | off) power_switch "$sub" "$@" ;;
    guest) power_lock && build_guest && current_guest ;;
    *) power_usage ;;
  esac
}
