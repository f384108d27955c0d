import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

const SCRIPT = path.resolve(__dirname, "..", "..", "components", "aws", "teardown.sh");

/** A fake `aws` on PATH that logs its arguments and fails the calls listed in FAIL_CALLS. */
const FAKE_AWS = `#!/usr/bin/env bash
printf '%s\\n' "$*" >> "$AWS_LOG"
for call in $FAIL_CALLS; do
  case "$*" in *"ec2 $call"*) echo "An error occurred ($call)" >&2; exit 254;; esac
done
exit 0
`;

let dir: string;
let log: string;

beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "aws-teardown-"));
  fs.writeFileSync(path.join(dir, "aws"), FAKE_AWS, { mode: 0o755 });
  log = path.join(dir, "calls.log");
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

function teardown(failCalls = "") {
  const result = spawnSync("bash", [SCRIPT], {
    encoding: "utf8",
    env: {
      PATH: `${dir}:${process.env.PATH}`,
      AWS_LOG: log,
      FAIL_CALLS: failCalls,
      RETRY_SECONDS: "0",
      REGION: "eu-central-1",
      INSTANCE_ID: "i-0123456789abcdef0",
      KEY_NAME: "dse_base-0123456789ab-build",
      SECURITY_GROUP_ID: "sg-0123456789abcdef0",
    },
  });
  const calls = fs.existsSync(log) ? fs.readFileSync(log, "utf8").trim().split("\n") : [];
  return { ...result, calls };
}

const R = "--region eu-central-1 --output text ec2";

describe("aws-teardown.sh", () => {
  it("passes shellcheck", () => {
    expect(() => execFileSync("shellcheck", [SCRIPT])).not.toThrow();
  });

  it("terminates the builder, waits for it, then deletes key pair and security group", () => {
    const { status, stdout, calls } = teardown();
    expect(calls).toEqual([
      `${R} terminate-instances --instance-ids i-0123456789abcdef0`,
      `${R} wait instance-terminated --instance-ids i-0123456789abcdef0`,
      `${R} delete-key-pair --key-name dse_base-0123456789ab-build`,
      `${R} delete-security-group --group-id sg-0123456789abcdef0`,
    ]);
    expect(status).toBe(0);
    expect(JSON.parse(stdout)).toEqual({
      terminated: "i-0123456789abcdef0",
      keyPair: "dse_base-0123456789ab-build",
      securityGroup: "sg-0123456789abcdef0",
    });
  });

  it("fails naming what is left when the builder cannot be terminated", () => {
    const { status, stdout, stderr, calls } = teardown("terminate-instances");
    expect(status).toBe(1);
    expect(stdout).toBe("");
    // The key pair can go; the security group cannot while the builder uses it.
    expect(calls).toEqual([
      `${R} terminate-instances --instance-ids i-0123456789abcdef0`,
      `${R} delete-key-pair --key-name dse_base-0123456789ab-build`,
    ]);
    expect(stderr).toContain(
      "  instance i-0123456789abcdef0: aws --region eu-central-1 ec2 terminate-instances --instance-ids i-0123456789abcdef0\n",
    );
    expect(stderr).toContain(
      "  security group sg-0123456789abcdef0 (in use until the builder is gone): aws --region eu-central-1 ec2 delete-security-group --group-id sg-0123456789abcdef0\n",
    );
  });

  it("retries the security group while the builder's network interface lingers, then gives up", () => {
    const { status, stderr, calls } = teardown("delete-security-group");
    expect(status).toBe(1);
    expect(calls.filter((c) => c.includes("delete-security-group"))).toHaveLength(13);
    expect(stderr).toContain(
      "  security group sg-0123456789abcdef0: aws --region eu-central-1 ec2 delete-security-group --group-id sg-0123456789abcdef0\n",
    );
  });
});
