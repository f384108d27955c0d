"""Image store adapter of AWS: AMI tags through the `aws` CLI.

Tags (on the home-region AMI): dse-image:fingerprint, :state, :gen, :build-stack, :image-name,
:boot-test, :sbom-sha256, :source-image, :superseded-by, :manifest-<n> (the manifest JSON in
pieces: EC2 caps a tag value at 256 characters), :copies ("region=ami-...,..."), and the claims
dse-image:user:<stack tag> / dse-image:kept:<stack tag> (value: the stack ID). Copies in other
regions carry the same tags plus dse-image:source-ami and live and die with the home AMI.
Only AMIs of this account count (`--owners self`). Builders are instances tagged
dse-image:stack=<stack tag>, dse-image:role=builder.

STORE_CONFIG: {"region", "copyToRegions": [...], "shareWithAccounts": [...], "encrypted",
               "kmsKeyId", "tags": {...} (the user's aws.tags, on every AMI and copy it creates)}
"""

import datetime
import json
import os
import time

lifecycle = None  # set by imagestore.load_adapter

PIECE = 256
PREFIX = "dse-image:"


def tag(key):
    return PREFIX + key.replace("_", "-")


class Store:
    def __init__(self, platform, config):
        self.region = config["region"]
        self.copy_regions = list(config.get("copyToRegions", []))
        self.accounts = list(config.get("shareWithAccounts", []))
        self.encrypted = bool(config.get("encrypted", True))
        self.kms = config.get("kmsKeyId") or ""
        # The user's tags (aws.tags), in every create call: a tag-enforcing policy checks it.
        self.user_tags = dict(config.get("tags", {}))

    def ec2(self, *args, region=None, check=True):
        return lifecycle.run(["aws", "--region", region or self.region, "--output", "json",
                              "ec2", *args], check=check)

    def ec2_json(self, *args, region=None):
        out = self.ec2(*args, region=region).stdout
        return json.loads(out) if out.strip() else {}

    # --- reading --------------------------------------------------------------------------
    def _image(self, data):
        if data.get("State") == "deregistered" or "ImageId" not in data:
            return None
        tags = {t["Key"]: t["Value"] for t in data.get("Tags", [])}
        meta = {k: tags[tag(k)] for k in lifecycle.FIELDS if tags.get(tag(k))}
        # A failed AMI keeps its name (so the next CreateImage under it fails) until deregistered.
        # Broken images are never resumed, adopted or exported; discard deletes them.
        if data.get("State") in ("failed", "invalid", "error") or (
                meta.get("state") == "complete" and data.get("State") != "available"):
            meta["state"] = "broken"
        users = {k[len(PREFIX + "user:"):]: v for k, v in tags.items()
                 if k.startswith(PREFIX + "user:")}
        kept = {k[len(PREFIX + "kept:"):]: v for k, v in tags.items()
                if k.startswith(PREFIX + "kept:")}
        manifest = "".join(tags.get(f"{PREFIX}manifest-{i}", "") for i in range(len(tags)))
        image = lifecycle.Image(data["ImageId"], data.get("Name", ""), data.get("CreationDate", ""),
                                meta, users, kept, manifest)
        # Claims an ImageClaim resource holds (components/store/aws.ts): the release of a record
        # step of an earlier version leaves them alone (imagestore.py cmd_release).
        image.held = sorted(k[len(PREFIX + "held:"):] for k in tags if k.startswith(PREFIX + "held:"))
        image.extra["available"] = data.get("State") == "available"
        image.extra["copies"] = parse_copies(tags.get(PREFIX + "copies", ""))
        image.extra["regions"] = {self.region: data["ImageId"], **image.extra["copies"]}
        image.extra["snapshots"] = [m["Ebs"]["SnapshotId"] for m in data.get("BlockDeviceMappings", [])
                                    if m.get("Ebs", {}).get("SnapshotId")]
        return image

    def get(self, image_id, region=None):
        proc = self.ec2("describe-images", "--owners", "self", "--image-ids", image_id,
                        region=region, check=False)
        if proc.returncode != 0:
            if "InvalidAMIID" in proc.stderr:
                return None
            raise lifecycle.StoreError(f"aws ec2 describe-images {image_id}: {proc.stderr.strip()}")
        images = json.loads(proc.stdout or "{}").get("Images", [])
        return self._image(images[0]) if images else None

    def list_family(self, image_name):
        data = self.ec2_json("describe-images", "--owners", "self", "--filters",
                             f"Name=tag:{tag('image_name')},Values={image_name}")
        images = [self._image(d) for d in data.get("Images", [])]
        return [i for i in images if i is not None]

    def list_builders(self, stack_tag):
        data = self.ec2_json(
            "describe-instances", "--filters", f"Name=tag:{PREFIX}stack,Values={stack_tag}",
            f"Name=tag:{PREFIX}role,Values=builder",
            "Name=instance-state-name,Values=pending,running,stopping,stopped")
        builders = []
        for reservation in data.get("Reservations", []):
            for inst in reservation.get("Instances", []):
                tags = {t["Key"]: t["Value"] for t in inst.get("Tags", [])}
                state = inst.get("State", {}).get("Name", "")
                if state in ("pending", "running"):
                    status = "running"
                elif state == "stopped" and tags.get(PREFIX + "sealed") == "true":
                    status = "sealed"
                else:
                    status = "stopped"
                builders.append({"id": inst["InstanceId"], "build": tags.get(PREFIX + "build", ""),
                                 "gen": tags.get(PREFIX + "gen", ""), "status": status})
        return builders

    # --- writing --------------------------------------------------------------------------
    def _tag(self, image, tags, region=None):
        payload = json.dumps([{"Key": k, "Value": v} for k, v in tags.items()])
        self.ec2("create-tags", "--resources", image, "--tags", payload, region=region)

    def _untag(self, image, keys, region=None):
        payload = json.dumps([{"Key": k} for k in keys])
        self.ec2("delete-tags", "--resources", image, "--tags", payload, region=region)

    def _everywhere(self, image):
        """(region, id) of the home AMI and every copy."""
        return [(self.region, image.id)] + sorted(image.extra.get("copies", {}).items())

    def _tags(self, meta, manifest):
        tags = {tag(k): v for k, v in meta.items()}
        if manifest is not None:
            for i, piece in enumerate(lifecycle.chunks(manifest.strip(), PIECE)):
                tags[f"{PREFIX}manifest-{i}"] = piece
        return tags

    def creation_args(self, meta, manifest):
        tags = {**self.user_tags, **self._tags(meta, manifest)}
        return json.dumps([{"Key": k, "Value": v} for k, v in tags.items()])

    def set_meta(self, image_id, meta, manifest=None):
        tags = self._tags(meta, manifest)
        if tags:
            self._tag(image_id, tags)

    def set_claim(self, image, kind, tag_, stack_id):
        for region, image_id in self._everywhere(image):
            self._tag(image_id, {f"{PREFIX}{claim(kind)}:{tag_}": stack_id}, region=region)

    def drop_claim(self, image, kind, tag_):
        if tag_ in getattr(image, kind):
            for region, image_id in self._everywhere(image):
                self._untag(image_id, [f"{PREFIX}{claim(kind)}:{tag_}"], region=region)

    def supersede(self, image, by_name):
        # EC2 rounds to the minute and refuses a time in the past.
        at = (datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=2))
        for region, image_id in self._everywhere(image):
            self._tag(image_id, {tag("superseded_by"): by_name}, region=region)
            self.ec2("enable-image-deprecation", "--image-id", image_id, "--deprecate-at",
                     at.strftime("%Y-%m-%dT%H:%M:00Z"), region=region)

    def publish(self, image, name):
        self._tag(image.id, {tag("state"): "complete"})
        return image.id

    def delete(self, image):
        for region, image_id in reversed(self._everywhere(image)):
            found = image if image_id == image.id else self.get(image_id, region=region)
            self._deregister(image_id, region, found.extra.get("snapshots", []) if found else [])

    def _deregister(self, image_id, region, snapshots):
        """Deregisters one AMI (already gone is done) and deletes its snapshots."""
        proc = self.ec2("deregister-image", "--image-id", image_id, region=region, check=False)
        if proc.returncode != 0 and "InvalidAMIID" not in proc.stderr:
            raise lifecycle.StoreError(f"aws ec2 deregister-image {image_id}: {proc.stderr.strip()}")
        for snapshot in snapshots:
            self.ec2("delete-snapshot", "--snapshot-id", snapshot, region=region, check=False)

    def forget(self, image_id, stack_tag):
        """The home AMI is gone (deregistered outside Pulumi): its copies, found by their
        source-ami tag, lose this stack's claim and go unless another stack still claims them."""
        for region in self.copy_regions:
            data = self.ec2_json("describe-images", "--owners", "self", "--filters",
                                 f"Name=tag:{PREFIX}source-ami,Values={image_id}", region=region)
            for found in data.get("Images", []):
                copy = self._image(found)
                if copy is None:
                    continue
                others = (set(copy.users) | set(copy.kept)) - {stack_tag}
                if others:
                    self._untag(copy.id, [f"{PREFIX}user:{stack_tag}", f"{PREFIX}kept:{stack_tag}"],
                                region=region)
                    lifecycle.log(f"keeping copy {copy.id} in {region}: still claimed by others")
                    continue
                lifecycle.log(f"deleting copy {copy.id} in {region} of the gone AMI {image_id}")
                self._deregister(copy.id, region, copy.extra.get("snapshots", []))

    def wait_available(self, image_id, region):
        """Until EC2 made the AMI available, like wait_for_ami in ami-lib.sh: longer than the
        CLI's waiter (ten minutes), failing at once on a failed AMI."""
        minutes = int(os.environ.get("AMI_WAIT_MINUTES", "90"))
        deadline = time.monotonic() + minutes * 60
        while True:
            data = self.ec2_json("describe-images", "--owners", "self", "--image-ids", image_id,
                                 region=region).get("Images", [])
            state = data[0].get("State", "") if data else "gone"
            if state == "available":
                return
            if state != "pending":
                reason = data[0].get("StateReason", {}).get("Message", "") if data else ""
                raise lifecycle.StoreError(f"AMI {image_id} in {region} is {state}"
                                           + (f": {reason}" if reason else ""))
            if time.monotonic() >= deadline:
                raise lifecycle.StoreError(f"AMI {image_id} in {region} is still pending after "
                                           f"{minutes} minutes (AMI_WAIT_MINUTES)")
            time.sleep(float(os.environ.get("POLL_SECONDS", "15")))

    def ensure_replicas(self, image):
        """Copies in every copyToRegions region and launch permissions: the record's job, so an
        adopted AMI gets the copies and shares this stack asks for too. A copy is exported only
        available and tagged: one an earlier attempt started is waited for and tagged now."""
        copies = dict(image.extra.get("copies", {}))
        for region in self.copy_regions:
            copy = self.get(copies[region], region=region) if region in copies else None
            if copy is None:
                args = ["copy-image", "--source-region", self.region, "--source-image-id",
                        image.id, "--name", image.name, "--description",
                        f"dse-image {image.name}, copied from {self.region}"]
                if self.encrypted:
                    args += ["--encrypted"] + (["--kms-key-id", self.kms] if self.kms else [])
                if self.user_tags:
                    # On the copy and its snapshots, in the create call (the dse tags follow
                    # once it is available).
                    tags = [{"Key": k, "Value": v} for k, v in self.user_tags.items()]
                    args += ["--tag-specifications",
                             json.dumps([{"ResourceType": "image", "Tags": tags}])]
                copies[region] = self.ec2_json(*args, region=region)["ImageId"]
                lifecycle.log(f"copying {image.name} to {region}: {copies[region]}")
                # Recorded at once: a copy that fails later is still found and deleted with it.
                self._tag(image.id, {PREFIX + "copies": format_copies(copies)})
            elif copy.meta.get("state") == "complete" and copy.extra.get("available"):
                continue
            self.wait_available(copies[region], region)
            source_tags = {f"{PREFIX}{k}": v for k, v in image_tags(image).items()}
            source_tags[PREFIX + "source-ami"] = image.id
            self._tag(copies[region], source_tags, region=region)
        if self.accounts:
            payload = json.dumps({"Add": [{"UserId": a} for a in self.accounts]})
            for region, image_id in [(self.region, image.id)] + sorted(copies.items()):
                self.ec2("modify-image-attribute", "--image-id", image_id, "--launch-permission",
                         payload, region=region)
        return {"regions": {self.region: image.id, **copies}}


def claim(kind):
    return "user" if kind == "users" else "kept"


def image_tags(image):
    """The dse tags of an image, without the prefix, for its copies."""
    tags = {k.replace("_", "-"): v for k, v in image.meta.items()}
    for i, piece in enumerate(lifecycle.chunks(image.manifest.strip(), PIECE)):
        tags[f"manifest-{i}"] = piece
    for t, stack in image.users.items():
        tags[f"user:{t}"] = stack
    return tags


def parse_copies(text):
    return dict(p.split("=", 1) for p in text.split(",") if "=" in p)


def format_copies(copies):
    return ",".join(f"{r}={i}" for r, i in sorted(copies.items()))
