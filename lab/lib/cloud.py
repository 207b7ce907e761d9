"""The lab's OpenStack-side setup and helpers, over the REST APIs (keystoneauth1 only).

Run by lab/lab with the venv's Python and the admin credentials in OS_* variables. Every
command converges: running it twice leaves the cloud as running it once.
"""

import argparse
import os
import sys
import time

from keystoneauth1 import adapter, exceptions, session
from keystoneauth1.identity import v3

REGION = "RegionOne"
MASAKARI_REGION = "masakari"
SERVICE_USERS = ("nova", "placement", "glance", "neutron", "masakari")
IMAGE = "tiny"
FLAVOR = {"id": "lab.tiny", "name": "lab.tiny", "vcpus": 1, "ram": 64, "disk": 1}
# 2.53: services are addressed by uuid and forced_down is settable by PUT; 2.74: servers may
# be placed on a named host; below 2.95, an evacuated server keeps its state.
COMPUTE_MICROVERSION = "2.74"


def log(msg):
    print(f"{time.strftime('%H:%M:%S')} lab: {msg}", file=sys.stderr, flush=True)


def connect():
    auth = v3.Password(
        auth_url=os.environ["OS_AUTH_URL"],
        username=os.environ["OS_USERNAME"],
        password=os.environ["OS_PASSWORD"],
        project_name=os.environ["OS_PROJECT_NAME"],
        user_domain_name=os.environ["OS_USER_DOMAIN_NAME"],
        project_domain_name=os.environ["OS_PROJECT_DOMAIN_NAME"],
    )
    return session.Session(auth=auth)


def api(sess, service_type, **kw):
    return adapter.Adapter(sess, service_type=service_type, interface="public", region_name=REGION, **kw)


def one(items, what):
    if len(items) > 1:
        sys.exit(f"lab: more than one {what}: {items}")
    return items[0] if items else None


def ensure(ks, path, key, query, body):
    """The first resource of `path` matching `query`, created from `body` when there is none."""
    found = one(ks.get(path, params=query).json()[key], f"{key} matching {query}")
    if found is None:
        found = ks.post(path, json={key[:-1]: body}).json()[key[:-1]]
    return found


def cmd_catalog(sess, args):
    ks = api(sess, "identity", endpoint_override=os.environ["OS_AUTH_URL"])
    project = ensure(ks, "/projects", "projects", {"name": "service"}, {"name": "service", "domain_id": "default"})
    roles = {r: ensure(ks, "/roles", "roles", {"name": r}, {"name": r})["id"] for r in ("admin", "service")}
    for name in SERVICE_USERS:
        user = ensure(
            ks, "/users", "users", {"name": name, "domain_id": "default"},
            {"name": name, "domain_id": "default", "password": args.password},
        )
        # keystonemiddleware accepts an X-Service-Token (nova sends one to neutron with the
        # user's token) only from a user with the `service` role.
        for role in roles.values():
            ks.put(f"/projects/{project['id']}/users/{user['id']}/roles/{role}")

    endpoints = {
        # Masakari finds nova as the compute service *named* nova.
        ("nova", "compute"): f"http://{args.host}:8774/v2.1",
        ("placement", "placement"): f"http://{args.host}:8778",
        ("glance", "image"): f"http://{args.host}:9292",
        ("neutron", "network"): f"http://{args.host}:9696",
        ("vigil", "instance-ha"): args.vigil_url.rstrip("/") + "/v1/%(tenant_id)s",
    }
    for (name, stype), url in endpoints.items():
        svc = ensure(ks, "/services", "services", {"type": stype}, {"name": name, "type": stype})
        for interface in ("public", "internal", "admin"):
            query = {"service_id": svc["id"], "interface": interface, "region_id": REGION}
            ep = ensure(
                ks, "/endpoints", "endpoints", query,
                {"service_id": svc["id"], "interface": interface, "region_id": REGION, "url": url},
            )
            if ep["url"] != url:
                ks.patch(f"/endpoints/{ep['id']}", json={"endpoint": {"url": url}})
                log(f"{stype} {interface} endpoint now {url}")


def cmd_masakari_region(sess, args):
    """While the real Masakari runs, region MASAKARI_REGION's instance-ha endpoint is Masakari.

    Clients then reach either API from the same credentials: RegionOne (Vigil) or this region.
    The region holds nothing else, so choosing the region chooses the API.
    """
    ks = api(sess, "identity", endpoint_override=os.environ["OS_AUTH_URL"])
    region = MASAKARI_REGION
    svc = ensure(ks, "/services", "services", {"type": "instance-ha"}, {"name": "vigil", "type": "instance-ha"})
    endpoints = ks.get("/endpoints", params={"service_id": svc["id"], "region_id": region}).json()["endpoints"]
    for ep in endpoints:
        ks.delete(f"/endpoints/{ep['id']}")
    if args.url is None:
        return
    if ks.get(f"/regions/{region}", raise_exc=False).status_code == 404:
        ks.post("/regions", json={"region": {"id": region, "description": "the real Masakari, for comparisons"}})
    for interface in ("public", "internal", "admin"):
        ks.post("/endpoints", json={"endpoint": {
            "service_id": svc["id"], "interface": interface, "region_id": region,
            "url": args.url.rstrip("/") + "/v1/%(tenant_id)s",
        }})


def cmd_resources(sess, args):
    """The image and flavor `lab boot` and the tests use; their ids go to args.out."""
    glance = api(sess, "image")
    image = one(glance.get("/v2/images", params={"name": IMAGE}).json()["images"], f"image {IMAGE}")
    if image is None:
        image = glance.post(
            "/v2/images",
            json={"name": IMAGE, "disk_format": "raw", "container_format": "bare", "visibility": "public"},
        ).json()
    if image["status"] == "queued":
        # 1 MiB of zeros: the fake driver never reads it, but nova checks its size.
        glance.put(
            f"/v2/images/{image['id']}/file",
            data=bytes(1 << 20),
            headers={"Content-Type": "application/octet-stream"},
        )
    nova = api(sess, "compute", default_microversion=COMPUTE_MICROVERSION)
    if nova.get(f"/flavors/{FLAVOR['id']}", raise_exc=False).status_code == 404:
        nova.post("/flavors", json={"flavor": FLAVOR})
    with open(args.out, "w") as f:
        f.write(f"VIGIL_LAB_IMAGE={image['id']}\nVIGIL_LAB_FLAVOR={FLAVOR['id']}\n")


def compute_states(nova):
    services = nova.get("/os-services", params={"binary": "nova-compute"}).json()["services"]
    return {s["host"]: s["state"] for s in services}


def cmd_wait_computes(sess, args):
    nova = api(sess, "compute", default_microversion=COMPUTE_MICROVERSION)
    want = set(args.hosts.split(","))
    deadline = time.monotonic() + args.timeout
    while True:
        try:
            states = compute_states(nova)
        except exceptions.ClientException:
            states = {}  # nova-api may still be starting
        missing = sorted(h for h in want if states.get(h) != args.state)
        if not missing:
            return
        if time.monotonic() > deadline:
            sys.exit(f"lab: after {args.timeout} s, not {args.state}: {', '.join(missing)} ({states})")
        time.sleep(0.5)


def cmd_revive(sess, args):
    """The host's nova-compute (just started again) back as the lab made it: up and enabled.

    A recovery under test forces the service down and disables it (Masakari disables it);
    Nova reports a forced-down service `down` whatever its heartbeats say.
    """
    nova = api(sess, "compute", default_microversion=COMPUTE_MICROVERSION)

    def current():
        return one(nova.get("/os-services", params={"binary": "nova-compute", "host": args.host})
                   .json()["services"], f"nova-compute on {args.host}")

    service = current()
    if service is None:
        sys.exit(f"lab: no nova-compute service on {args.host}")
    deadline = time.monotonic() + args.timeout
    while service["forced_down"]:
        # Nova refuses while `done` evacuation migrations remain on the host; the restarted
        # compute completes them (cleaning up evacuated instances) during its start.
        r = nova.put(f"/os-services/{service['id']}", json={"forced_down": False}, raise_exc=False)
        if r.ok:
            log(f"{args.host}: forced_down cleared")
            break
        if r.status_code != 400 or time.monotonic() > deadline:
            sys.exit(f"lab: could not clear forced_down of {args.host}: HTTP {r.status_code}: {r.text}")
        time.sleep(1)
    # `up` alone is not enough: within service_down_time of the kill, the dead process's last
    # heartbeat still counts, and the new one reports only after init_host, which can take
    # seconds. Wait for a heartbeat: an updated_at newer than the one read now, after the last
    # change made here (a PUT also moves updated_at).
    before = current()["updated_at"]
    while True:
        now = current()
        if now["state"] == "up" and now["updated_at"] and (not before or now["updated_at"] > before):
            break
        if time.monotonic() > deadline:
            sys.exit(f"lab: {args.host}'s nova-compute has not reported since it was revived: {now}")
        time.sleep(0.5)
    # Enable only once Nova sees the compute up: nova-api then tells it over RPC at once,
    # where for a compute it believes up but is not, it would wait rpc_response_timeout.
    if service["status"] == "disabled":
        nova.put(f"/os-services/{service['id']}", json={"status": "enabled"})
        log(f"{args.host}: enabled again (was disabled: {service.get('disabled_reason')})")


def cmd_boot(sess, args):
    nova = api(sess, "compute", default_microversion=COMPUTE_MICROVERSION)
    body = {
        "name": args.name,
        "imageRef": args.image,
        "flavorRef": args.flavor,
        "networks": "none",
        "min_count": args.count,
        "max_count": args.count,
        "return_reservation_id": True,
    }
    if args.host:
        body["host"] = args.host
    rid = nova.post("/servers", json={"server": body}).json()["reservation_id"]
    deadline = time.monotonic() + args.timeout
    while True:
        servers = nova.get("/servers/detail", params={"reservation_id": rid}).json()["servers"]
        states = [s["status"] for s in servers]
        if len(servers) == args.count and all(s == "ACTIVE" for s in states):
            break
        if "ERROR" in states or time.monotonic() > deadline:
            for s in servers:
                print(s["id"], s["status"], s.get("fault", {}).get("message", ""), file=sys.stderr)
            sys.exit(f"lab: servers of reservation {rid} did not all become ACTIVE")
        time.sleep(0.5)
    for s in sorted(servers, key=lambda s: s["name"]):
        print(s["id"], s["name"], s["OS-EXT-SRV-ATTR:host"])


def main():
    p = argparse.ArgumentParser(prog="cloud.py")
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("catalog")
    c.add_argument("--host", required=True)
    c.add_argument("--password", required=True)
    c.add_argument("--vigil-url", required=True)
    c = sub.add_parser("masakari-region")
    c.add_argument("--url", help="Masakari's base URL; without it, the endpoints are removed")
    c = sub.add_parser("resources")
    c.add_argument("--out", required=True)
    c = sub.add_parser("wait-computes")
    c.add_argument("--hosts", required=True)
    c.add_argument("--state", default="up")
    c.add_argument("--timeout", type=float, default=120)
    c = sub.add_parser("revive")
    c.add_argument("--host", required=True)
    c.add_argument("--timeout", type=float, default=120)
    c = sub.add_parser("boot")
    c.add_argument("--count", type=int, default=1)
    c.add_argument("--host")
    c.add_argument("--name", default="lab")
    c.add_argument("--image", required=True)
    c.add_argument("--flavor", required=True)
    c.add_argument("--timeout", type=float, default=120)
    args = p.parse_args()
    handler = {
        "catalog": cmd_catalog,
        "masakari-region": cmd_masakari_region,
        "resources": cmd_resources,
        "wait-computes": cmd_wait_computes,
        "revive": cmd_revive,
        "boot": cmd_boot,
    }
    try:
        handler[args.cmd](connect(), args)
    except exceptions.HttpError as e:
        sys.exit(f"lab: {e.method} {e.url}: HTTP {e.http_status}: {e.response.text if e.response is not None else e}")


if __name__ == "__main__":
    main()
