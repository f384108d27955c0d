import { envWords, shellQuote } from "./shell";
import type { ProvisionEnv, PythonSource, ToolGroup } from "./config/stack";

/** Where the Provisioner uploads provision/ on the builder (it lands in `<dir>/provision`). */
export const REMOTE_DIR = "/var/tmp/dse-build";
export const REMOTE_PROVISION_DIR = `${REMOTE_DIR}/provision`;

export type ProvisionStep = "install" | "verify" | "inventory" | "cleanup";
/**
 * In order. verify.sh prints the manifest, inventory.sh every installed package (the SBOM's
 * source); cleanup.sh seals the builder for its snapshot and runs last.
 */
export const PROVISION_STEPS: readonly ProvisionStep[] = [
  "install",
  "verify",
  "inventory",
  "cleanup",
];

/** Steps whose stdout is data (a JSON document), not progress. */
export const DATA_STEPS: readonly ProvisionStep[] = ["verify", "inventory"];

export interface ProvisionSettings {
  tools: readonly ToolGroup[];
  pythonSource: PythonSource;
  fingerprint: string;
  /** Mirror, index and proxy variables; only the set ones are passed. */
  env?: ProvisionEnv;
  /** Zero-fill free space in cleanup.sh; worth it where the image is compressed afterwards. */
  zeroFreeSpace?: boolean;
}

/**
 * The exact command the Provisioner runs over SSH for one step. sshd usually refuses client
 * environment variables, so the settings travel on the command line through `sudo env`.
 */
export function provisionCommand(step: ProvisionStep, s: ProvisionSettings): string {
  const env: Record<string, string | undefined> = {
    DSE_TOOLS: s.tools.join(" "),
    DSE_PYTHON_SOURCE: s.pythonSource,
    DSE_FINGERPRINT: s.fingerprint,
    ...(step === "cleanup" ? { DSE_ZERO_FREE_SPACE: s.zeroFreeSpace ? "1" : "0" } : {}),
    ...s.env,
  };
  return [
    "sudo",
    "env",
    ...envWords(env),
    "bash",
    shellQuote(`${REMOTE_PROVISION_DIR}/${step}.sh`),
  ].join(" ");
}

/**
 * Runs first, before the upload: makes the upload target a directory (so provision/ is copied
 * into it), arms the guest-side dead-man switch that powers the builder off after the TTL even
 * if the operator's machine dies mid-build, and waits for cloud-init to finish.
 */
export function prepareCommand(ttlMinutes: number): string {
  const arm =
    `sudo systemd-run --unit=dse-builder-ttl --on-active=${ttlMinutes}m /bin/systemctl poweroff` +
    ` || sudo shutdown -P +${ttlMinutes}`;
  // cloud-init may restart sshd when it finishes, which drops the upload's fresh connection:
  // let it finish while this session (which survives the restart) holds the builder.
  // Its exit status (degraded, errors) is install.sh's to judge; under `sh -e` it must not abort.
  const settle =
    "if command -v cloud-init >/dev/null; then sudo cloud-init status --wait || true; fi";
  return `sudo rm -rf ${REMOTE_DIR} && mkdir -p ${REMOTE_DIR} && { ${arm}; } >/dev/null 2>&1 || true; { ${settle}; } >/dev/null 2>&1; test -d ${REMOTE_DIR}`;
}

/**
 * The upload step: unpacks provisionArchive()'s text, given on stdin, into REMOTE_DIR (prepare
 * made it, owned by the login user), so provision/ lands in REMOTE_PROVISION_DIR.
 */
export function uploadCommand(): string {
  return `base64 -d | tar -xzf - -C ${REMOTE_DIR} && test -d ${REMOTE_PROVISION_DIR}`;
}

/** The transient unit a failed step arms to power the builder off; a resumed run disarms it. */
export const FAILURE_POWEROFF_UNIT = "dse-builder-failed";

/**
 * Wraps a step so that a failure powers the builder off shortly after (on AWS that terminates it)
 * unless the operator asked to keep it for debugging; either way the step still fails. The delay
 * lets the failed step's exit status reach the operator. A run started within it finds the
 * builder still running and resumes on it, so each step first disarms a pending power-off:
 * otherwise it would land mid-step, and the step would hang until the SSH connection's
 * keepalive gave up (pulumi-command sets no timeout on a running command).
 */
export function onFailure(command: string, keepBuilder: boolean): string {
  const kept = keepBuilder
    ? "echo 'dse-image: keepBuilderOnFailure is set: the builder is kept running for debugging' >&2"
    : `sudo systemd-run --unit=${FAILURE_POWEROFF_UNIT} --on-active=30s /bin/systemctl poweroff >/dev/null 2>&1 || sudo shutdown -P +1 >/dev/null 2>&1; echo 'dse-image: the builder powers off in 30 seconds (set keepBuilderOnFailure to keep it)' >&2`;
  const disarm = `sudo systemctl stop ${FAILURE_POWEROFF_UNIT}.timer >/dev/null 2>&1;`;
  return `${disarm} ${command} || { rc=$?; ${kept}; exit $rc; }`;
}
