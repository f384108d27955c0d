/**
 * Builds the Debian 12 test base (ensureDebianBase) ahead of the VM lanes: `.ci/run` starts it
 * beside `npm test`, whose CPU-bound minutes hide debootstrap's mostly network-bound ones. The
 * lanes then find the base built, or wait on build-base's lock for this build to finish, instead
 * of all three waiting at their start for one of them to build it.
 * Usage (as root): node --import tsx test/vm/prepare-base.ts; exit status 1 when the build fails
 * (the lanes then try again themselves and report it).
 */
import { ensureDebianBase } from ".";

ensureDebianBase().then(
  (base) => process.stderr.write(`[vm] base ready: ${base.disk}\n`),
  (e: Error) => {
    process.stderr.write(`[vm] ${e.message}\n`);
    process.exitCode = 1;
  },
);
