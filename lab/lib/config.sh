# shellcheck shell=bash
# Writes the services' configuration into $ETC. Rewritten by every `up` that starts something,
# so a changed option or environment variable takes effect at the next start.
#
# The options that matter (and why) are in lab/README.md; the rest are defaults.

authtoken() { # USER: keystonemiddleware's section for a service user
  cat <<EOF
[keystone_authtoken]
www_authenticate_uri = $KS
auth_url = $KS
auth_type = password
username = $1
password = $PW
project_name = service
user_domain_name = Default
project_domain_name = Default
region_name = RegionOne
memcached_servers =
EOF
}

service_auth() { # SECTION USER: credentials one service uses to call another
  cat <<EOF
[$1]
auth_url = $KS
auth_type = password
username = $2
password = $PW
project_name = service
user_domain_name = Default
project_domain_name = Default
region_name = RegionOne
EOF
}

write_config() {
  mkdir -p "$ETC"/{keystone,placement,glance,neutron/plugins/ml2,nova/compute,masakari} \
    "$LOG"/access "$RUN" "$DATA"/{fernet-keys,credential-keys,lock,glance/images,glance/staging,glance/tasks}

  cat >"$ETC/keystone/keystone.conf" <<EOF
[database]
connection = sqlite:///$DATA/keystone.sqlite
[token]
provider = fernet
[fernet_tokens]
key_repository = $DATA/fernet-keys
[credential]
key_repository = $DATA/credential-keys
EOF

  {
    cat <<EOF
[placement_database]
connection = ${DB_URL}placement
[api]
auth_strategy = keystone
EOF
    authtoken placement
  } >"$ETC/placement/placement.conf"

  {
    cat <<EOF
[DEFAULT]
enabled_backends = fs:file
[glance_store]
default_backend = fs
[fs]
filesystem_store_datadir = $DATA/glance/images
[os_glance_staging_store]
filesystem_store_datadir = $DATA/glance/staging
[os_glance_tasks_store]
filesystem_store_datadir = $DATA/glance/tasks
[database]
connection = sqlite:///$DATA/glance.sqlite
[paste_deploy]
flavor = keystone
config_file = $VENV/etc/glance/glance-api-paste.ini
[oslo_concurrency]
lock_path = $DATA/lock
EOF
    authtoken glance
  } >"$ETC/glance/glance-api.conf"

  {
    cat <<EOF
[DEFAULT]
api_paste_config = $LAB_DIR/etc/neutron-api-paste.ini
core_plugin = ml2
service_plugins =
auth_strategy = keystone
transport_url = $TRANSPORT
notify_nova_on_port_status_changes = false
notify_nova_on_port_data_changes = false
rpc_workers = 0
rpc_state_report_workers = 0
[database]
connection = ${DB_URL}neutron
[oslo_concurrency]
lock_path = $DATA/lock
EOF
    authtoken neutron
  } >"$ETC/neutron/neutron.conf"
  # Nova needs a network API even for servers without ports; no agent ever runs.
  cat >"$ETC/neutron/plugins/ml2/ml2_conf.ini" <<EOF
[ml2]
type_drivers = flat
tenant_network_types =
mechanism_drivers =
extension_drivers = port_security
[ml2_type_flat]
flat_networks = *
EOF

  write_nova_config
}

write_nova_config() {
  # nova-api's WSGI entry point reads api-paste.ini from its configuration directory.
  cp "$VENV/etc/nova/api-paste.ini" "$ETC/nova/api-paste.ini"
  {
    cat <<EOF
[DEFAULT]
host = controller
my_ip = $H
transport_url = $TRANSPORT
# One node named after [DEFAULT]host, its uuid kept in state_path/compute_id, so a compute can
# be killed and started again (plain FakeDriver draws a new node uuid in every process).
compute_driver = fake.FakeDriverWithoutFakeNodes
state_path = $DATA/nova
# Fast failure detection: a service reports every second and is down after 6 s of silence.
report_interval = 1
service_down_time = 6
# TERM ends a service within 3 s (oslo.service waits 60 s by default), so lab down is quick.
graceful_shutdown_timeout = 3
[wsgi]
api_paste_config = $ETC/nova/api-paste.ini
[api_database]
connection = ${DB_URL}nova_api
[database]
connection = ${DB_URL}nova_cell1
[scheduler]
discover_hosts_in_cells_interval = 2
# One worker each instead of one per CPU (about 140 MB of RSS per worker).
workers = 1
[conductor]
workers = 1
[oslo_concurrency]
lock_path = $DATA/lock
[vnc]
enabled = false
[oslo_messaging_notifications]
driver = noop
[glance]
region_name = RegionOne
# Benchmarks boot many servers; the fake driver has room for thousands.
[quota]
instances = -1
cores = -1
ram = -1
EOF
    authtoken nova
    service_auth placement placement
    service_auth neutron neutron
  } >"$ETC/nova/nova.conf"

  local host
  for host in $(compute_hosts); do
    mkdir -p "$DATA/nova/$host"
    cat >"$ETC/nova/compute/$host.conf" <<EOF
[DEFAULT]
host = $host
state_path = $DATA/nova/$host
EOF
  done
}

# write_masakari_config normal|fast: "fast" lowers Masakari's wait periods for a fair comparison.
write_masakari_config() {
  local fast=
  if [[ $1 == fast ]]; then
    # The unconditional sleep after disabling nova-compute (default 180 s) must still cover
    # nova's service_down_time, or nova refuses the evacuation.
    fast="wait_period_after_service_update = 6
duplicate_notification_detection_interval = 5"
  fi
  {
    cat <<EOF
[DEFAULT]
host = controller
transport_url = $TRANSPORT
auth_strategy = keystone
masakari_api_listen = $H
masakari_api_listen_port = $P_MASAKARI
masakari_api_workers = 1
os_privileged_user_name = masakari
os_privileged_user_password = $PW
os_privileged_user_tenant = service
os_privileged_user_auth_url = $KS
os_region_name = RegionOne
# Masakari's defaults are the domain name "default"; keystone on SQLite compares names
# case-sensitively and the domain is "Default" (HTTP 401 from every nova call).
os_user_domain_name = Default
os_project_domain_name = Default
# Masakari finds nova as the catalog's compute service *named* nova.
nova_catalog_admin_info = compute:nova:publicURL
$fast
[wsgi]
api_paste_config = $LAB_DIR/etc/masakari-api-paste.ini
[database]
connection = sqlite:///$DATA/masakari.sqlite
[taskflow]
connection = sqlite:///$DATA/masakari_taskflow.sqlite
[oslo_concurrency]
lock_path = $DATA/lock
EOF
    authtoken masakari
  } >"$ETC/masakari/masakari.conf"
}
