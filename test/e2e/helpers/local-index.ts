/**
 * A throwaway PEP 503 package index on the host's loopback, serving tiny pure-Python wheels
 * built on the spot: there is no PyPI here, and the test must prove where pip got what.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as http from "node:http";
import * as os from "node:os";
import * as path from "node:path";

// A wheel is a zip with the package, METADATA, WHEEL and a RECORD of hashes.
const BUILD_WHEEL = `
import base64, hashlib, sys, zipfile
name, version, out = sys.argv[1:4]
info = f"{name}-{version}.dist-info"
files = {
    f"{name}/__init__.py": f'__version__ = "{version}"\\n',
    f"{info}/METADATA": f"Metadata-Version: 2.1\\nName: {name}\\nVersion: {version}\\n",
    f"{info}/WHEEL": "Wheel-Version: 1.0\\nGenerator: dse-test\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
}
record = []
with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
    for p, text in files.items():
        data = text.encode()
        z.writestr(p, data)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{p},sha256={digest},{len(data)}")
    record.append(f"{info}/RECORD,,")
    z.writestr(f"{info}/RECORD", "\\n".join(record) + "\\n")
`;

export interface LocalIndex {
  /** Index URL as the guest sees it (QEMU user networking maps 10.0.2.2 to host loopback). */
  guestUrl: string;
  port: number;
  /** Paths requested so far. */
  requests: string[];
  close(): Promise<void>;
}

export async function startLocalIndex(pkg: string, versions: string[]): Promise<LocalIndex> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "dse-index-"));
  const wheels = versions.map((v) => {
    const file = `${pkg}-${v}-py3-none-any.whl`;
    execFileSync("python3", ["-c", BUILD_WHEEL, pkg, v, path.join(dir, file)]);
    const sha = createHash("sha256")
      .update(fs.readFileSync(path.join(dir, file)))
      .digest("hex");
    return { file, sha };
  });
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    const url = (req.url ?? "/").split("?")[0];
    requests.push(url);
    if (url === "/simple/" || url === "/simple") {
      res.writeHead(200, { "content-type": "text/html" });
      res.end(`<html><body><a href="${pkg}/">${pkg}</a></body></html>`);
    } else if (url === `/simple/${pkg}/` || url === `/simple/${pkg}`) {
      const links = wheels
        .map((w) => `<a href="/packages/${w.file}#sha256=${w.sha}">${w.file}</a><br/>`)
        .join("\n");
      res.writeHead(200, { "content-type": "text/html" });
      res.end(`<html><body>\n${links}\n</body></html>`);
    } else if (url.startsWith("/packages/") && wheels.some((w) => url === `/packages/${w.file}`)) {
      res.writeHead(200, { "content-type": "application/octet-stream" });
      res.end(fs.readFileSync(path.join(dir, path.basename(url))));
    } else {
      res.writeHead(404);
      res.end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    guestUrl: `http://10.0.2.2:${port}/simple/`,
    port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
        fs.rmSync(dir, { recursive: true, force: true });
      }),
  };
}
