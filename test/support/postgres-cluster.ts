import { execFile, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** A free TCP port on loopback, for servers the tests start. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

function findPgBin(): string {
  for (const dir of [
    "/usr/lib/postgresql/17/bin",
    "/usr/lib/postgresql/16/bin",
    "/usr/lib/postgresql/15/bin",
  ]) {
    if (fs.existsSync(path.join(dir, "initdb"))) return dir;
  }
  throw new Error(
    "PostgreSQL server binaries (initdb, pg_ctl) not found: install Debian's postgresql package",
  );
}

export interface PostgresCluster {
  url: (database?: string) => string;
  /** The same server through its Unix-domain socket (no TCP loopback in between). */
  socketUrl: (database?: string) => string;
  stop: () => Promise<void>;
}

/**
 * A throwaway PostgreSQL cluster from the machine's binaries: initdb in a temp dir, pg_ctl on a free
 * loopback port, trust authentication. initdb refuses to run as root, so as root the cluster is
 * owned by the `postgres` system user. `settings` are passed to the server (`-c name=value`), e.g.
 * `{ shared_buffers: "1GB" }` for a benchmark.
 */
export async function startPostgresCluster(settings: Record<string, string> = {}): Promise<PostgresCluster> {
  const bin = findPgBin();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "herald-pg-"));
  const dataDir = path.join(dir, "data");
  const port = await freePort();
  const asRoot = process.getuid?.() === 0;
  const wrap = (cmd: string, args: string[]): [string, string[]] =>
    asRoot ? ["runuser", ["-u", "postgres", "--", cmd, ...args]] : [cmd, args];
  if (asRoot) fs.chmodSync(dir, 0o777);
  const [initCmd, initArgs] = wrap(path.join(bin, "initdb"), [
    "-D",
    dataDir,
    "-U",
    "postgres",
    "--auth=trust",
    "--no-sync",
    "-E",
    "UTF8",
    "--locale=C",
  ]);
  await run(initCmd, initArgs);
  const extra = Object.entries(settings).map(([name, value]) => ` -c ${name}=${value}`);
  const options = `-c listen_addresses=127.0.0.1 -p ${port} -k ${dir} -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200${extra.join("")}`;
  const [ctlCmd, ctlArgs] = wrap(path.join(bin, "pg_ctl"), [
    "-D",
    dataDir,
    "-o",
    options,
    "-l",
    path.join(dir, "log"),
    "-w",
    "start",
  ]);
  await run(ctlCmd, ctlArgs);
  return {
    url: (database = "postgres") => `postgres://postgres@127.0.0.1:${port}/${database}`,
    socketUrl: (database = "postgres") =>
      `postgres://postgres@/${database}?host=${encodeURIComponent(dir)}&port=${port}`,
    stop: async () => {
      const [stopCmd, stopArgs] = wrap(path.join(bin, "pg_ctl"), ["-D", dataDir, "-m", "immediate", "stop"]);
      await new Promise<void>((resolve) =>
        spawn(stopCmd, stopArgs, { stdio: "ignore" }).on("exit", () => resolve()),
      );
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
