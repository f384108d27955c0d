/**
 * provision/lib.sh's step log: a header per step, each step's duration when the next starts or
 * the script ends, and the failed step named on a failure (without a duration).
 */
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";

const LIB = path.join(__dirname, "..", "..", "provision", "lib.sh");

/** Runs `body` in bash after sourcing lib.sh the way the scripts do (EXIT trap included). */
function script(body: string, env: NodeJS.ProcessEnv = {}) {
  const r = spawnSync(
    "bash",
    ["-c", `set -euo pipefail\nDSE_SCRIPT=t.sh\n. '${LIB}'\ntrap dse_on_exit EXIT\n${body}`],
    { encoding: "utf8", env: { ...process.env, ...env } },
  );
  return { status: r.status, lines: r.stderr.split("\n").filter(Boolean) };
}

describe("provision/lib.sh steps", () => {
  it("logs each step's duration when the next one starts and when the script ends", () => {
    // Assigning SECONDS sets bash's clock, relative to when the step began (a loaded machine can
    // take over a second to reach the first step): the durations are exact.
    const r = script(
      "dse_step one\nSECONDS=$((DSE_STEP_STARTED + 7))\ndse_step two\nSECONDS=$((DSE_STEP_STARTED + 3))",
    );
    expect(r.status).toBe(0);
    expect(r.lines).toEqual([
      "==> [t.sh] one",
      't.sh: step "one" took 7 s',
      "==> [t.sh] two",
      't.sh: step "two" took 3 s',
    ]);
  });

  it("names the failed step and its exit status instead of a duration", () => {
    const r = script("dse_step one\ndse_step two\nexit 3");
    expect(r.status).toBe(3);
    expect(r.lines).toEqual([
      "==> [t.sh] one",
      't.sh: step "one" took 0 s',
      "==> [t.sh] two",
      't.sh: FAILED in step "two" (exit 3)',
    ]);
  });

  it("logs no duration when no step began", () => {
    expect(script("true").lines).toEqual([]);
  });
});

describe("provision/lib.sh dse_wait_for_cloud_init", () => {
  let dir: string;
  let calls: string;
  let env: NodeJS.ProcessEnv;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "dse-cloud-init-"));
    calls = path.join(dir, "calls");
    fs.mkdirSync(path.join(dir, "bin"));
    fs.mkdirSync(path.join(dir, "systemd"));
    // A fake cloud-init: logs how it was called and exits with $CLOUD_INIT_RC.
    fs.writeFileSync(
      path.join(dir, "bin", "cloud-init"),
      `#!/bin/sh\necho "$@" >>'${calls}'\nexit "\${CLOUD_INIT_RC:-0}"\n`,
      { mode: 0o755 },
    );
    env = {
      PATH: `${path.join(dir, "bin")}:${process.env.PATH}`,
      DSE_SYSTEMD_RUN_DIR: path.join(dir, "systemd"),
      DSE_CLOUD_INIT_RESULT: path.join(dir, "result.json"),
    };
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const called = () => (fs.existsSync(calls) ? fs.readFileSync(calls, "utf8").trim() : "");
  const result = (v1: object) =>
    fs.writeFileSync(path.join(dir, "result.json"), JSON.stringify({ v1 }));

  it("takes a finished boot's result without starting cloud-init", () => {
    result({ datasource: "DataSourceNoCloud", errors: [] });
    expect(script("dse_wait_for_cloud_init", env)).toEqual({ status: 0, lines: [] });
    expect(called()).toBe("");
  });

  it("warns with the result's errors and goes on", () => {
    result({
      errors: ["('locale', ProcessExecutionError())"],
      recoverable_errors: { WARNING: ["no locale"] },
    });
    expect(script("dse_wait_for_cloud_init", env)).toEqual({
      status: 0,
      lines: [
        "t.sh: warning: cloud-init finished with errors (('locale', ProcessExecutionError()); WARNING: no locale); continuing",
      ],
    });
    expect(called()).toBe("");
  });

  it("waits with cloud-init status --wait while there is no result, and warns on its status", () => {
    expect(script("dse_wait_for_cloud_init", { ...env, CLOUD_INIT_RC: "1" })).toEqual({
      status: 0,
      lines: [
        "t.sh: waiting for cloud-init (at most 900s)",
        "t.sh: warning: cloud-init finished with status 1; continuing",
      ],
    });
    expect(called()).toBe("status --wait");
  });

  it("asks cloud-init when the result cannot be read", () => {
    fs.writeFileSync(path.join(dir, "result.json"), "{not json");
    expect(script("dse_wait_for_cloud_init", env).lines).toEqual([
      "t.sh: waiting for cloud-init (at most 900s)",
    ]);
    expect(called()).toBe("status --wait");
  });

  it("waits for nothing outside a booted systemd (a chroot)", () => {
    const chroot = { ...env, DSE_SYSTEMD_RUN_DIR: path.join(dir, "missing") };
    expect(script("dse_wait_for_cloud_init", chroot)).toEqual({ status: 0, lines: [] });
    expect(called()).toBe("");
  });
});

describe("provision/lib.sh dse_require_supported_os (install.sh's first check)", () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "dse-os-release-"));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** Runs the check against an os-release file with these lines. */
  function check(lines: string[] | undefined) {
    const file = path.join(dir, "os-release");
    if (lines) fs.writeFileSync(file, `${lines.join("\n")}\n`);
    return script("dse_step check\ndse_require_supported_os\necho ok >&2", {
      DSE_OS_RELEASE: file,
    });
  }

  it.each([
    ["Ubuntu 22.04", ["ID=ubuntu", 'VERSION_ID="22.04"']],
    ["Ubuntu 24.04", ["ID=ubuntu", 'VERSION_ID="24.04"']],
    ["Debian 12", ["ID=debian", 'VERSION_ID="12"']],
  ])("lets %s through", (_, lines) => {
    const r = check(lines);
    expect(r.status).toBe(0);
    expect(r.lines).toContain("ok");
  });

  it("stops on the old template's Ubuntu 14.04, naming it and the config keys to change", () => {
    const r = check([
      "NAME=Ubuntu",
      'PRETTY_NAME="Ubuntu 14.04.6 LTS"',
      "ID=ubuntu",
      'VERSION_ID="14.04"',
    ]);
    expect(r.status).toBe(1);
    expect(r.lines.slice(1)).toEqual([
      "t.sh: ERROR: the base image runs Ubuntu 14.04.6 LTS (ubuntu 14.04); install.sh supports Ubuntu 22.04, Ubuntu 24.04 and Debian 12: set the platform's source image (openstack.sourceImage, aws.sourceAmi or qemu.sourceImageUrl) to one of them",
      't.sh: FAILED in step "check" (exit 1)',
    ]);
  });

  it("stops on a system without an os-release file", () => {
    const r = check(undefined);
    expect(r.status).toBe(1);
    expect(r.lines[1]).toBe(
      "t.sh: ERROR: the base image has no /etc/os-release; install.sh supports Ubuntu 22.04, Ubuntu 24.04 and Debian 12",
    );
  });
});
