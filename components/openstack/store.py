"""Image store adapter of OpenStack: Glance image properties through the `openstack` CLI.

Properties: dse_fingerprint, dse_state, dse_gen, dse_build_stack, dse_image_name, dse_boot_test,
dse_sbom_sha256, dse_source_image, dse_superseded_by, dse_manifest_<n> (the manifest JSON in
pieces: Glance caps a property value at 255 characters), dse_user_<stack tag> and
dse_kept_<stack tag> (claims; the value is the stack ID).
Only images owned by the current project count (rule O4: a name or property filter alone also
matches other projects' public images). Builders are servers named dse-<stack tag>-openstack-*.

STORE_CONFIG: {"osFlags": ["--insecure", ...], "visibility": "private", "properties": {...}}
"""

import json
import re

lifecycle = None  # set by imagestore.load_adapter

PIECE = 240
NOT_FOUND = re.compile(r"No (Image|Server) found|Could not find|not found|404", re.I)


def prop(key):
    return f"dse_{key}"


class Store:
    def __init__(self, platform, config):
        self.flags = list(config.get("osFlags", []))
        self.visibility = config.get("visibility", "private")
        self.extra_properties = config.get("properties", {})
        self._project = None

    def os(self, *args, check=True):
        return lifecycle.run(["openstack", *self.flags, *args], check=check)

    def os_json(self, *args):
        return json.loads(self.os(*args, "-f", "json").stdout or "null")

    def project(self):
        if self._project is None:
            self._project = self.os("token", "issue", "-f", "value", "-c", "project_id").stdout.strip()
        return self._project

    # --- reading --------------------------------------------------------------------------
    def get(self, image_id):
        proc = self.os("image", "show", "-f", "json", image_id, check=False)
        if proc.returncode != 0:
            if NOT_FOUND.search(proc.stderr):
                return None
            raise lifecycle.StoreError(f"openstack image show {image_id}: {proc.stderr.strip()}")
        data = json.loads(proc.stdout)
        if data.get("status") in ("deleted", "pending_delete"):
            return None
        props = properties_of(data)
        meta = {k: props[prop(k)] for k in lifecycle.FIELDS if props.get(prop(k))}
        # `killed`: the upload failed and nothing can boot it, but it stays until deleted. Broken
        # images are never resumed, adopted or exported; discard deletes them.
        if data.get("status") == "killed" or (
                meta.get("state") == "complete" and data.get("status") != "active"):
            meta["state"] = "broken"
        users = {k[len("dse_user_"):]: v for k, v in props.items() if k.startswith("dse_user_")}
        kept = {k[len("dse_kept_"):]: v for k, v in props.items() if k.startswith("dse_kept_")}
        manifest = "".join(props.get(f"dse_manifest_{i}", "") for i in range(len(props)))
        image = lifecycle.Image(data["id"], data.get("name", ""), data.get("created_at", ""),
                                meta, users, kept, manifest)
        image.extra["owner"] = data.get("owner", "")
        # Claims an ImageClaim resource holds (components/store/openstack.ts): the release of a
        # record step of an earlier version leaves them alone (imagestore.py cmd_release).
        image.held = sorted(k[len("dse_held_"):] for k in props if k.startswith("dse_held_"))
        return image

    def describe_source(self, ref):
        """The source image (an ID or a name) by what it holds: its ID and Glance's digest of its
        bytes, so an image republished under the same name is another base."""
        proc = self.os("image", "show", "-f", "json", ref, check=False)
        if proc.returncode != 0:
            why = " | ".join(proc.stderr.strip().splitlines()[-2:])
            raise lifecycle.StoreError(f"source image {ref}: {why}")
        data = json.loads(proc.stdout)
        if data.get("status") != "active":
            raise lifecycle.StoreError(f"source image {ref} ({data.get('id')}) is "
                                       f"{data.get('status')}, not active: a builder cannot boot it")
        digest = data.get("os_hash_value") or data.get("checksum") or ""
        return {"id": data["id"], "checksum": digest}

    def list_family(self, image_name):
        ids = []
        for hidden in ([], ["--hidden"]):
            rows = self.os_json("image", "list", "--long", "--property",
                                f"dse_image_name={image_name}", *hidden) or []
            ids += [r["ID"] for r in rows if r.get("Project") == self.project() and r["ID"] not in ids]
        images = [self.get(i) for i in ids]
        return [i for i in images if i is not None]

    def list_builders(self, stack_tag):
        rows = self.os_json("server", "list", "--long", "--name",
                            f"^dse-{stack_tag}-openstack-") or []
        builders = []
        for row in rows:
            props = properties_of({"properties": row.get("Properties", {})})
            if props.get("dse_role") != "builder" or not props.get("dse_build"):
                continue
            status = row.get("Status", "")
            if status == "ACTIVE":
                state = "running"
            elif status == "SHUTOFF" and props.get("dse_sealed") == "true":
                state = "sealed"
            else:
                state = "stopped"
            builders.append({"id": row["ID"], "build": props["dse_build"],
                             "gen": props.get("dse_gen", ""), "status": state})
        return builders

    # --- writing --------------------------------------------------------------------------
    def set_meta(self, image_id, meta, manifest=None):
        args = self._property_args(meta, manifest)
        if args:
            self.os("image", "set", *args, image_id)

    def _property_args(self, meta, manifest):
        args = []
        for k, v in meta.items():
            args += ["--property", f"{prop(k)}={v}"]
        if manifest is not None:
            for i, piece in enumerate(lifecycle.chunks(manifest.strip(), PIECE)):
                args += ["--property", f"dse_manifest_{i}={piece}"]
        return args

    def set_claim(self, image, kind, tag, stack_id):
        self.os("image", "set", "--property", f"dse_{claim(kind)}_{tag}={stack_id}", image.id)

    def drop_claim(self, image, kind, tag):
        if tag in getattr(image, kind):
            self.os("image", "unset", "--property", f"dse_{claim(kind)}_{tag}", image.id)

    def supersede(self, image, by_name):
        # Glance hides os_hidden images from default listings; the ID still works.
        self.os("image", "set", "--hidden", "--property", f"dse_superseded_by={by_name}", image.id)

    def publish(self, image, name):
        extra = []
        for k, v in sorted(self.extra_properties.items()):
            extra += ["--property", f"{k}={v}"]
        self.os("image", "set", "--name", name, f"--{self.visibility}", *extra,
                "--property", "dse_state=complete", image.id)
        return image.id

    def delete(self, image):
        proc = self.os("image", "delete", image.id, check=False)
        if proc.returncode != 0 and not NOT_FOUND.search(proc.stderr):
            raise lifecycle.StoreError(f"openstack image delete {image.id}: {proc.stderr.strip()}")

    def ensure_replicas(self, image):
        return {}


def claim(kind):
    return "user" if kind == "users" else "kept"


def properties_of(data):
    """Image/server properties as a dict, from a JSON dict or an older OSC's "k='v', ..." text."""
    props = data.get("properties") or {}
    if isinstance(props, dict):
        return {k: str(v) for k, v in props.items()}
    return dict(re.findall(r"(\w+)='((?:[^'\\]|\\.)*)'", str(props)))
