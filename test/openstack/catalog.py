#!/usr/bin/python3
"""The lane cloud's own objects, made idempotently in one process (openstacksdk from Debian's
python3-openstacksdk): one `openstack` CLI call costs 1-3 s of start-up on 2 busy cores, and
`cloud.sh up` needs dozens of them. Called by cloud.sh with the admin credentials in OS_*.

usage: catalog.py identity    service project and users, services and endpoints, the test
                              project and user (LANE_PASSWORD, LANE_PROJECT, LANE_USER)
       catalog.py wait-compute   until nova-compute is up and its hypervisor is in Placement
       catalog.py wait-agents    until the linuxbridge and DHCP agents are alive
       catalog.py resources  flavor, flat network and subnet (LANE_*); prints the network ID
       catalog.py wait-dhcp NETWORK_ID   until the network's DHCP port is ACTIVE
Env: OS_AUTH_URL OS_USERNAME OS_PASSWORD OS_PROJECT_NAME OS_REGION_NAME, LANE_TIMEOUT (s)
Exit 1 with one line "catalog: ..." on stderr when something fails or times out.
"""

import os
import sys
import time

import openstack

SERVICES = {
    # name: (type, URL, keystone user of the service)
    "glance": ("image", "http://127.0.0.1:9292", "glance"),
    "placement": ("placement", "http://127.0.0.1:8778", "placement"),
    "nova": ("compute", "http://127.0.0.1:8774/v2.1", "nova"),
    "neutron": ("network", "http://127.0.0.1:9696", "neutron"),
}


def env(name, default=None):
    value = os.environ.get(name, default)
    if value is None:
        raise SystemExit(f"catalog: {name} is required")
    return value


def connect():
    return openstack.connect(
        auth_url=env("OS_AUTH_URL"),
        username=env("OS_USERNAME"),
        password=env("OS_PASSWORD"),
        project_name=env("OS_PROJECT_NAME"),
        user_domain_name="Default",
        project_domain_name="Default",
        region_name=env("OS_REGION_NAME", "RegionOne"),
        identity_api_version="3",
    )


def log(msg):
    print(f"catalog: {msg}", file=sys.stderr, flush=True)


def ensure_project(conn, name, domain):
    project = conn.identity.find_project(name, domain_id=domain.id)
    if project is None:
        project = conn.identity.create_project(name=name, domain_id=domain.id)
        log(f"created project {name}")
    return project


def ensure_user(conn, name, password, domain, project=None):
    user = conn.identity.find_user(name, domain_id=domain.id)
    if user is None:
        args = {"name": name, "password": password, "domain_id": domain.id}
        if project is not None:
            args["default_project_id"] = project.id
        user = conn.identity.create_user(**args)
        log(f"created user {name}")
    else:
        # The password may have been made anew (a new OS_LANE_DIR): it is always set.
        conn.identity.update_user(user, password=password)
    return user


def ensure_role(conn, project, user, role_name):
    role = conn.identity.find_role(role_name)
    if role is None:
        raise SystemExit(f"catalog: role {role_name} is missing (keystone-manage bootstrap makes it)")
    conn.identity.assign_project_role_to_user(project, user, role)


def ensure_service(conn, name, kind, url, region):
    service = next((s for s in conn.identity.services() if s.type == kind), None)
    if service is None:
        service = conn.identity.create_service(name=name, type=kind)
        log(f"created service {name} ({kind})")
    have = {e.interface for e in conn.identity.endpoints(service_id=service.id) if e.url == url}
    for interface in ("public", "internal", "admin"):
        if interface not in have:
            conn.identity.create_endpoint(service_id=service.id, interface=interface, url=url,
                                          region_id=region)


def identity(conn):
    password = env("LANE_PASSWORD")
    region = env("OS_REGION_NAME", "RegionOne")
    domain = conn.identity.find_domain("default")
    service_project = ensure_project(conn, "service", domain)
    for name, (kind, url, user_name) in SERVICES.items():
        user = ensure_user(conn, user_name, password, domain)
        ensure_role(conn, service_project, user, "admin")
        ensure_service(conn, name, kind, url, region)
    project = ensure_project(conn, env("LANE_PROJECT"), domain)
    user = ensure_user(conn, env("LANE_USER"), password, domain, project)
    ensure_role(conn, project, user, "member")


def wait(what, check):
    deadline = time.monotonic() + int(env("LANE_TIMEOUT", "300"))
    last = None
    while time.monotonic() < deadline:
        try:
            result = check()
            if result:
                return result
        except Exception as exc:  # an API that is still starting: keep polling
            last = exc
        time.sleep(2)
    raise SystemExit(f"catalog: timed out waiting for {what}" + (f" (last error: {last})" if last else ""))


def wait_compute(conn):
    def compute_up():
        services = list(conn.compute.services(binary="nova-compute"))
        return [s.host for s in services if s.state == "up" and s.status == "enabled"]

    hosts = wait("nova-compute to report up", compute_up)
    print(hosts[0])


def wait_hypervisor(conn):
    wait("a hypervisor in the compute API", lambda: list(conn.compute.hypervisors()))


def wait_agents(conn):
    def alive():
        agents = list(conn.network.agents())
        kinds = {a.agent_type for a in agents if a.is_alive}
        return {"Linux bridge agent", "DHCP agent"} <= kinds

    wait("the neutron linuxbridge and DHCP agents", alive)


def wait_dhcp(conn, network_id):
    def active():
        ports = list(conn.network.ports(network_id=network_id, device_owner="network:dhcp"))
        return ports and all(p.status == "ACTIVE" for p in ports)

    wait(f"the DHCP port of network {network_id} to be ACTIVE", active)


def resources(conn):
    flavor_name = env("LANE_FLAVOR")
    ram, vcpus, disk = int(env("LANE_FLAVOR_RAM")), int(env("LANE_FLAVOR_VCPUS")), int(env("LANE_FLAVOR_DISK"))
    flavor = conn.compute.find_flavor(flavor_name)
    if flavor is not None and (flavor.ram, flavor.vcpus, flavor.disk) != (ram, vcpus, disk):
        log(f"flavor {flavor_name} has other sizes: made anew")
        conn.compute.delete_flavor(flavor)
        flavor = None
    if flavor is None:
        conn.compute.create_flavor(name=flavor_name, ram=ram, vcpus=vcpus, disk=disk, is_public=True)
        log(f"created flavor {flavor_name}: {vcpus} vCPU, {ram} MB, {disk} GB")

    net_name = env("LANE_NETWORK")
    network = conn.network.find_network(net_name)
    if network is None:
        network = conn.network.create_network(
            name=net_name, is_shared=True, provider_network_type="flat",
            provider_physical_network=env("LANE_PHYSNET"))
        log(f"created network {net_name}")
    prefix = env("LANE_NET_PREFIX")
    subnet_name = f"{net_name}-v4"
    subnet = conn.network.find_subnet(subnet_name, network_id=network.id)
    if subnet is None:
        # No gateway: the guests reach only their own /24 (the host's bridge address, where the
        # HTTP proxy listens). Nothing routes them anywhere else.
        conn.network.create_subnet(
            name=subnet_name, network_id=network.id, ip_version=4, cidr=f"{prefix}.0/24",
            gateway_ip=None, is_dhcp_enabled=True,
            allocation_pools=[{"start": f"{prefix}.100", "end": f"{prefix}.199"}])
        log(f"created subnet {subnet_name} ({prefix}.0/24, no gateway)")
    print(network.id)


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    conn = connect()
    command = sys.argv[1]
    if command == "identity":
        identity(conn)
    elif command == "wait-compute":
        wait_compute(conn)
    elif command == "wait-hypervisor":
        wait_hypervisor(conn)
    elif command == "wait-agents":
        wait_agents(conn)
    elif command == "wait-dhcp" and len(sys.argv) == 3:
        wait_dhcp(conn, sys.argv[2])
    elif command == "resources":
        resources(conn)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    try:
        main()
    except openstack.exceptions.SDKException as exc:
        raise SystemExit(f"catalog: {exc}") from None
