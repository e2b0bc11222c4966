/**
 * Batch export benchmark (issue 5): one segment's audience, 5 attributes per profile, exported as
 * gzip CSV in at most 5 files through Herald's real path (a dataflow and runSegmentExport: counts,
 * DuckDB COPY into a pipe, row splitter, parallel gzip, connector) — 100 M profiles to the local
 * folder connector and 10 M to SFTP on loopback (OpenSSH's sshd). Each export runs in its own
 * process, so its peak RSS is its own, beside two baselines on the same rows in the same run:
 *
 *   - DuckDB alone: `COPY (the same audience query) TO 'file.csv.gz'` (Herald's table-order plan:
 *     the members' bitmap, then the table's slices as one UNION ALL);
 *   - the bare compression limit: Node's zlib (level 1, Herald's default) compressing the same CSV
 *     bytes, read from a plain CSV file DuckDB wrote, on 2 worker threads (pure compression time).
 *
 *   node bench/export.ts                          # 100 M local, 10 M SFTP (needs ~40 GB free disk)
 *   HERALD_BENCH_SCALE=0.01 node bench/export.ts  # 1 M local, 100 k SFTP
 *   node bench/export.ts --scale=0.1 --only=local
 *   HERALD_BENCH_LOCAL_PROFILES=10000000 HERALD_BENCH_SFTP_PROFILES=10000000 node bench/export.ts
 *   HERALD_BENCH_CACHE=/var/tmp/herald-bench node bench/export.ts  # generate once, copy after
 *   HERALD_BENCH_CACHE=/var/tmp/herald-bench node bench/export.ts --generate-only
 *   node bench/export.ts --only=local --encrypted   # plain, then encrypted to an OpenPGP key
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import * as openpgp from "openpgp";
import { pino } from "pino";
import { buildAudienceQuery, createDataflow, getDataflow } from "../src/activation/index.ts";
import { migrateParts, wireParts } from "../src/api/index.ts";
import { loadConfig } from "../src/config/index.ts";
import { localKeyProvider } from "../src/crypto/index.ts";
import { createAccount } from "../src/destinations/index.ts";
import { installDefaultSchema, loadSchema } from "../src/schema/index.ts";
import { createSegment, evaluateSegments, segmentMemberships } from "../src/segments/index.ts";
import { DEFAULT_SANDBOX, openDuckDBStore, openStore } from "../src/store/index.ts";
import { scopePlan, scopeToSandbox } from "../src/store/scoping.ts";
import { sshdUnavailableReason, startSshd } from "../test/servers/sshd.ts";
import {
  benchScale,
  childTask,
  ensureFreeDisk,
  mbPerSecond,
  mib,
  perSecond,
  printTable,
  ratio,
  reportFromChild,
  runChild,
  timed,
} from "./support/measure.ts";
import { timedSegmentExport } from "./support/segment-export.ts";
import { zlibLimit } from "./support/zlib-limit.ts";

const SANDBOX = DEFAULT_SANDBOX;
const EVERYONE = "everyone";
const TENTH = "tenth";
const MAX_FILES = 5;
/**
 * Herald's configuration as a user's environment sets it (HERALD_MEMORY_LIMIT, HERALD_THREADS; by
 * default 448MB and every core), in every export child and baseline alike; local-folder accounts
 * may write in the work dir's `local` folder, beside the data dir.
 */
const heraldConfig = (dataDir: string) =>
  loadConfig({ dataDir, localRoots: path.join(dataDir, "..", "local") }, process.env);

type Task =
  | { kind: "herald"; dataDir: string; keyHex: string; dataflowIds: string[]; segmentId: string }
  | {
      kind: "duckdb-copy";
      dataDir: string;
      dataflowId: string;
      segmentId: string;
      out: string;
      gzip: boolean;
    }
  | { kind: "zlib"; file: string; threads: number; level: number };

async function runTask(task: Task): Promise<{ seconds: number; [key: string]: unknown }> {
  switch (task.kind) {
    case "herald":
      return heraldExport(task);
    case "duckdb-copy":
      return duckdbCopy(task);
    case "zlib":
      return zlibLimit(task.file, task.threads, task.level);
  }
}

/**
 * What users run: the dataflow's segment export, on a store opened with Herald's defaults; with
 * several dataflows, their exports at once in one process (as HERALD_MAX_CONCURRENT_EXPORTS lets the
 * scheduler run them), timed together.
 */
async function heraldExport(task: Extract<Task, { kind: "herald" }>) {
  const config = heraldConfig(task.dataDir);
  const { store } = await openStore(config);
  try {
    const deps = wireParts({
      config,
      store,
      logger: pino({ level: "silent" }),
      keys: localKeyProvider(Buffer.from(task.keyHex, "hex")),
    });
    const { value: runs, seconds } = await timed(() =>
      Promise.all(task.dataflowIds.map((id) => timedSegmentExport(deps, SANDBOX, id, task.segmentId))),
    );
    return {
      seconds,
      activated: runs.reduce((sum, r) => sum + r.activated, 0),
      files: runs.reduce((sum, r) => sum + r.files, 0),
      bytes: runs.reduce((sum, r) => sum + r.bytes, 0),
    };
  } finally {
    await store.close();
  }
}

/** DuckDB writing the very query Herald runs, with its own writer (gzip or plain). */
async function duckdbCopy(task: Extract<Task, { kind: "duckdb-copy" }>) {
  const config = heraldConfig(task.dataDir);
  const store = await openDuckDBStore({
    file: path.join(task.dataDir, "herald.duckdb"),
    memoryLimit: config.memoryLimit,
  });
  try {
    const dataflow = await getDataflow(store, SANDBOX, task.dataflowId);
    const query = buildAudienceQuery({
      schema: await loadSchema(store, SANDBOX),
      dialect: store.dialect,
      mapping: dataflow.mapping,
      memberships: segmentMemberships,
      segmentId: task.segmentId,
      mode: "full",
    });
    const connection = await store.instance.connect();
    const copy = (sql: string, params: unknown[]) =>
      connection.run(
        `COPY (${sql}) TO '${task.out}' (FORMAT csv, HEADER true${task.gzip ? ", COMPRESSION gzip" : ""})`,
        params as string[],
      );
    const { seconds } = await timed(async () => {
      if (!query.tableOrder) {
        const scoped = scopeToSandbox(store.dialect, SANDBOX, query.sql, query.params);
        await connection.run("SET preserve_insertion_order = false");
        return copy(scoped.sql, scoped.params);
      }
      // Herald's plan as DuckDB alone runs it: the bitmap, then its slices as one UNION ALL.
      const [slots] = await store.query<{ n: number }>(SANDBOX, query.tableOrder.rowSlotsSql);
      const plan = scopePlan(store.dialect, SANDBOX, query.tableOrder.plan(Number(slots?.n)), (v) => v);
      for (const statement of plan.setup) await connection.run(statement.sql, statement.params as string[]);
      return copy(plan.queries.map((q) => q.sql).join(" UNION ALL "), []);
    });
    connection.closeSync();
    return { seconds, bytes: fs.statSync(task.out).size };
  } finally {
    await store.close();
  }
}

/**
 * Bump when the generated store changes (the profiles' SQL below, the segments, or what their
 * evaluation writes): HERALD_BENCH_CACHE's stores are keyed by it and by the profile count.
 */
const GENERATOR_VERSION = 1;

/** Profiles generated in the engine: ids in order, ~1 in 1,000 cities quoted (a comma inside). */
async function generate(dataDir: string, profiles: number) {
  const config = { ...heraldConfig(dataDir), memoryLimit: "8GB" };
  const { store } = await openStore(config);
  try {
    await migrateParts(store);
    await installDefaultSchema(store, SANDBOX);
    await store.query(
      SANDBOX,
      `INSERT INTO {profiles} (_id, _created_at, _updated_at, "personalEmail.address", "person.name.firstName",
         "person.name.lastName", "homeAddress.city", "loyalty.points")
       SELECT 'p' || lpad(CAST(i AS VARCHAR), 10, '0'), now(), now(), 'user' || i || '@example.com',
         ['Ann', 'Bob', 'Chloé', 'Dmitri', 'Eve', 'Fatima', 'Gaël', 'Hiro'][1 + CAST(hash(i * 3) % 8 AS INTEGER)],
         ['Smith', 'Martin', 'Müller', 'Garcia', 'Rossi', 'O''Brien'][1 + CAST(hash(i * 5) % 6 AS INTEGER)],
         CASE WHEN hash(i * 7) % 1000 = 0 THEN 'Saint-Denis, Réunion'
              ELSE ['Paris', 'Lyon', 'Berlin', 'Madrid', 'London'][1 + CAST(hash(i * 11) % 5 AS INTEGER)] END,
         CAST(i % 10000 AS BIGINT)
       FROM range(${profiles}) AS t(i)`,
    );
    const schema = await loadSchema(store, SANDBOX);
    await createSegment(store, SANDBOX, {
      id: EVERYONE,
      name: "Everyone",
      definition: "loyalty.points >= 0",
    });
    await createSegment(store, SANDBOX, { id: TENTH, name: "Tenth", definition: "loyalty.points < 1000" });
    await evaluateSegments(store, SANDBOX, schema, [EVERYONE, TENTH]);
  } finally {
    await store.close();
  }
}

/**
 * The generated store in `dataDir`. With HERALD_BENCH_CACHE=<dir> (opt-in), a store generated once
 * is kept there, per profile count and GENERATOR_VERSION, and copied for the next runs (100 M
 * profiles take 10-40 minutes to generate here); the copy is the run's, the cached file is never
 * opened. Migrations added since run on the copy.
 */
async function prepareStore(dataDir: string, profiles: number): Promise<string> {
  const file = path.join(dataDir, "herald.duckdb");
  const cacheDir = process.env.HERALD_BENCH_CACHE;
  const cached = cacheDir && path.join(cacheDir, `export-v${GENERATOR_VERSION}-${profiles}.duckdb`);
  if (cached && fs.existsSync(cached)) {
    fs.mkdirSync(dataDir, { recursive: true });
    fs.copyFileSync(cached, file);
    return `copied ${profiles.toLocaleString("en-US")} generated profiles from ${cached}`;
  }
  await generate(dataDir, profiles);
  if (fs.existsSync(`${file}.wal`)) throw new Error(`${file}.wal is left after closing the store`);
  if (cached) {
    fs.mkdirSync(cacheDir, { recursive: true });
    fs.copyFileSync(file, `${cached}.partial`);
    fs.renameSync(`${cached}.partial`, cached);
  }
  return `generated ${profiles.toLocaleString("en-US")} profiles and evaluated 2 segments${cached ? ` (kept in ${cached})` : ""}`;
}

/** The generated store, opened to create the accounts and dataflows of this run. */
async function openFixture(dataDir: string, keyHex: string) {
  const config = heraldConfig(dataDir);
  const { store } = await openStore(config);
  try {
    await migrateParts(store);
    const deps = wireParts({
      config,
      store,
      logger: pino({ level: "silent" }),
      keys: localKeyProvider(Buffer.from(keyHex, "hex")),
    });
    return {
      /** Creates the account (validated against the running server) and a gzip CSV dataflow. */
      dataflow: async (
        segmentId: string,
        rows: number,
        destinationId: string,
        connection: Record<string, unknown>,
        details: Record<string, unknown>,
        encryptionKey?: string,
      ) => {
        const account = await createAccount(deps, SANDBOX, {
          destinationId,
          name: destinationId,
          connection,
          details,
          ...(encryptionKey ? { encryptionKey } : {}),
        });
        const dataflow = await createDataflow(deps, SANDBOX, {
          name: `bench to ${destinationId}`,
          accountId: account.id,
          details,
          marketingActions: ["email_targeting"],
          segments: [
            {
              segmentId,
              schedule: { frequency: "daily", time: "06:00", timezone: "UTC" },
              fileNameTemplate: "%SEGMENT_NAME%_%DATETIME(yyyyMMdd)%",
            },
          ],
          mapping: {
            columns: [
              { source: { kind: "attribute", path: "personalEmail.address" }, target: "email" },
              { source: { kind: "attribute", path: "person.name.firstName" }, target: "first_name" },
              { source: { kind: "attribute", path: "person.name.lastName" }, target: "last_name" },
              { source: { kind: "attribute", path: "homeAddress.city" }, target: "city" },
              { source: { kind: "attribute", path: "loyalty.points" }, target: "points" },
            ],
          },
          fileOptions: {
            format: "csv",
            compression: "gzip",
            maxRowsPerFile: Math.ceil(rows / MAX_FILES),
            maxFiles: MAX_FILES,
          },
          status: "enabled",
        });
        return dataflow.id;
      },
      close: () => store.close(),
    };
  } catch (error) {
    await store.close();
    throw error;
  }
}

interface Scenario {
  name: string;
  segmentId: string;
  profiles: number;
  dataflowId: string;
  /** Where the export's files land, emptied after the run. */
  folder: string;
}

async function measureScenario(script: string, dir: string, dataDir: string, keyHex: string, s: Scenario) {
  console.log(
    `\n## ${s.name}: ${s.profiles.toLocaleString("en-US")} profiles, gzip CSV in <= ${MAX_FILES} files`,
  );
  const common = { dataDir, dataflowId: s.dataflowId, segmentId: s.segmentId };
  const herald = await runChild(script, { kind: "herald", keyHex, ...common, dataflowIds: [s.dataflowId] });
  const written = fs.readdirSync(s.folder);
  for (const name of written) fs.rmSync(path.join(s.folder, name), { force: true });
  if (herald.activated !== s.profiles)
    throw new Error(`exported ${herald.activated} rows, expected ${s.profiles}`);

  const gzipFile = path.join(dir, "duckdb.csv.gz");
  const duckGzip = await runChild(script, { kind: "duckdb-copy", ...common, out: gzipFile, gzip: true });
  fs.rmSync(gzipFile, { force: true });
  const plainFile = path.join(dir, "duckdb.csv");
  const duckPlain = await runChild(script, { kind: "duckdb-copy", ...common, out: plainFile, gzip: false });
  const zlib = await runChild(script, { kind: "zlib", file: plainFile, threads: 2, level: 1 });
  fs.rmSync(plainFile, { force: true });

  const n = s.profiles;
  const h = herald.seconds as number;
  const csvBytes = zlib.inBytes as number;
  const row = (label: string, r: { seconds: number; cpuSeconds: number }, gzipBytes: string, rss: string) => [
    label,
    r.seconds.toFixed(1),
    r.cpuSeconds.toFixed(1),
    perSecond(n, r.seconds),
    mbPerSecond(csvBytes, r.seconds),
    gzipBytes,
    rss,
    ratio(h, r.seconds),
    ratio(herald.cpuSeconds, r.cpuSeconds),
  ];
  printTable(
    [
      "",
      "seconds",
      "CPU s",
      "profiles/s",
      "CSV MB/s",
      "output",
      "peak RSS",
      "Herald time / this",
      "Herald CPU / this",
    ],
    [
      row(`Herald (${herald.files} files)`, herald, mib(herald.bytes as number), mib(herald.peakRssBytes)),
      row("DuckDB COPY .csv.gz", duckGzip, mib(duckGzip.bytes as number), mib(duckGzip.peakRssBytes)),
      row("zlib limit, 2 threads", zlib, mib(zlib.outBytes as number), "-"),
      row("(DuckDB COPY plain .csv)", duckPlain, `${mib(csvBytes)} plain`, mib(duckPlain.peakRssBytes)),
    ],
  );
  console.log(
    `zlib limit: ${(zlib.seconds as number).toFixed(1)} s inside gzip on the busiest worker, ${(zlib.wallSeconds as number).toFixed(1)} s wall with reading the file`,
  );
  return {
    name: s.name,
    profiles: n,
    herald: h,
    rss: herald.peakRssBytes,
    limit: zlib.seconds as number,
    duckGzip: duckGzip.seconds as number,
  };
}

/**
 * `--concurrent`: one export, then two of the same audience at once in one process (what the
 * default HERALD_MAX_CONCURRENT_EXPORTS of 2 allows): their time and the process's peak RSS. No
 * baselines: the question is the memory of two exports side by side.
 */
/** Empties the scenario's folder and its second dataflow's (`out2`) between exports. */
function emptyFolders(s: Scenario) {
  for (const folder of [s.folder, path.join(path.dirname(s.folder), "out2")])
    for (const name of fs.readdirSync(folder)) fs.rmSync(path.join(folder, name), { force: true });
}

async function measureConcurrent(
  script: string,
  dataDir: string,
  keyHex: string,
  s: Scenario,
  second: string,
) {
  const task = { kind: "herald" as const, dataDir, keyHex, segmentId: s.segmentId };
  const empty = () => emptyFolders(s);
  console.log(`\n## ${s.profiles.toLocaleString("en-US")} profiles, gzip CSV: one export, then two at once`);
  const one = await runChild(script, { ...task, dataflowIds: [s.dataflowId] });
  empty();
  console.log(
    `one export: ${one.seconds.toFixed(1)} s, ${one.cpuSeconds.toFixed(1)} CPU s, ${perSecond(s.profiles, one.seconds)}, peak RSS ${mib(one.peakRssBytes)}`,
  );
  // Two at once may fail (the engine's budget is shared): that is a result too.
  const two = await runChild(script, { ...task, dataflowIds: [s.dataflowId, second] }).catch(
    (error: unknown) => error as Error,
  );
  empty();
  if (two instanceof Error) {
    // The child printed its error above; its message names the cause when it carried its output.
    const cause = /attempt \d+: ([^\n]*)/.exec(two.message)?.[1] ?? "the child's error is printed above";
    console.log(`two at once: FAILED: ${cause}`);
    return;
  }
  if (two.activated !== 2 * s.profiles)
    throw new Error(`exported ${two.activated} rows, expected ${2 * s.profiles}`);
  console.log(
    `two at once: ${two.seconds.toFixed(1)} s, ${two.cpuSeconds.toFixed(1)} CPU s, ${perSecond(2 * s.profiles, two.seconds)}, peak RSS ${mib(two.peakRssBytes)} (${two.peakRssBytes < 1 << 30 ? "under" : "over"} 1024 MiB), ${ratio(two.seconds, 2 * one.seconds)} the time of two one after the other`,
  );
}

/**
 * `--encrypted`: the same audience exported twice in one run, plain, then to an account with an
 * OpenPGP key (every file encrypted after gzip, docs/destinations.md); the second's cost is the
 * encryption's.
 */
async function measureEncrypted(
  script: string,
  dataDir: string,
  keyHex: string,
  s: Scenario,
  encrypted: string,
) {
  const task = { kind: "herald" as const, dataDir, keyHex, segmentId: s.segmentId };
  const empty = () => emptyFolders(s);
  console.log(
    `\n## ${s.profiles.toLocaleString("en-US")} profiles, gzip CSV: plain, then encrypted to an OpenPGP key`,
  );
  const runs: [string, Awaited<ReturnType<typeof runChild>>][] = [];
  for (const [label, id] of [
    ["plain", s.dataflowId],
    ["OpenPGP", encrypted],
  ] as const) {
    runs.push([label, await runChild(script, { ...task, dataflowIds: [id] })]);
    const written = fs.readdirSync(path.join(path.dirname(s.folder), "out2"));
    if (label === "OpenPGP" && !written.some((name) => name.endsWith(".csv.gz.gpg")))
      throw new Error(`the encrypted export wrote ${written.join(", ") || "nothing"}, no .csv.gz.gpg file`);
    empty();
  }
  const plain = runs[0]?.[1] as Awaited<ReturnType<typeof runChild>>;
  for (const [label, r] of runs)
    console.log(
      `${label.padEnd(8)} ${r.seconds.toFixed(1)} s, ${r.cpuSeconds.toFixed(1)} CPU s, ${perSecond(s.profiles, r.seconds)}, peak RSS ${mib(r.peakRssBytes)}, ${ratio(r.seconds, plain.seconds)} the plain export's time`,
    );
}

async function main() {
  const scale = benchScale();
  const only = process.argv.find((a) => a.startsWith("--only="))?.slice("--only=".length);
  // Sizes: 100 M to the local folder, 10 M to SFTP, times the scale; HERALD_BENCH_LOCAL_PROFILES
  // and HERALD_BENCH_SFTP_PROFILES set them apart. The store holds the larger count; the SFTP
  // segment is everyone when that is its size, else a tenth (points < 1,000 of 0..9,999).
  const sized = (name: string, fallback: number) => Number(process.env[name] ?? Math.round(fallback * scale));
  const localProfiles = only === "sftp" ? 0 : sized("HERALD_BENCH_LOCAL_PROFILES", 100_000_000);
  const sftpProfiles = only === "local" ? 0 : sized("HERALD_BENCH_SFTP_PROFILES", 10_000_000);
  const profiles = Math.max(localProfiles, sftpProfiles);
  const sftpSegment = sftpProfiles === profiles ? EVERYONE : TENTH;
  if (localProfiles && localProfiles !== profiles) throw new Error("the local export takes every profile");
  if (sftpProfiles && sftpSegment === TENTH && sftpProfiles * 10 !== profiles)
    throw new Error("the SFTP export takes every profile or exactly a tenth of them (a multiple of 10,000)");
  const sshdProblem = sshdUnavailableReason();
  const script = new URL(import.meta.url).pathname;
  const dir = fs.mkdtempSync(path.join(process.env.HERALD_BENCH_DIR ?? os.tmpdir(), "herald-bench-export-"));
  const dataDir = path.join(dir, "data");
  // Measured at 10 M: the store ~25 bytes a profile, plain CSV 48, gzip 9 (twice), DuckDB's sort
  // spilling up to the CSV's size again; a margin on top.
  try {
    ensureFreeDisk(dir, profiles * 200, `Exporting ${profiles.toLocaleString("en-US")} profiles`);
  } catch (error) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const keyHex = randomBytes(32).toString("hex");
  console.log(
    `Batch export, scale ${scale}: ${os.cpus().length} cores, HERALD_MEMORY_LIMIT=${heraldConfig(dir).memoryLimit}, UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE ?? "4 (default)"}, work dir ${dir}`,
  );
  if (process.argv.includes("--generate-only") && !process.env.HERALD_BENCH_CACHE)
    throw new Error("--generate-only keeps the store in HERALD_BENCH_CACHE: set it");
  const sshd = sshdProblem || !sftpProfiles ? undefined : await startSshd();
  try {
    const { value: prepared, seconds } = await timed(() => prepareStore(dataDir, profiles));
    console.log(`${prepared} in ${seconds.toFixed(1)} s`);
    // --generate-only: fill HERALD_BENCH_CACHE now, measure in a later run (its own benchmark lock).
    if (process.argv.includes("--generate-only")) return;
    const fixture = await openFixture(dataDir, keyHex);
    const scenarios: Scenario[] = [];
    // --concurrent: a second dataflow of the same audience to a folder of its own.
    let secondDataflow = "";
    if (localProfiles) {
      const root = path.join(dir, "local");
      fs.mkdirSync(path.join(root, "out"), { recursive: true });
      scenarios.push({
        name: "local folder",
        segmentId: EVERYONE,
        profiles,
        folder: path.join(root, "out"),
        dataflowId: await fixture.dataflow(EVERYONE, profiles, "local", { root }, { folderPath: "out" }),
      });
      if (process.argv.includes("--encrypted")) {
        fs.mkdirSync(path.join(root, "out2"));
        const { publicKey } = await openpgp.generateKey({
          type: "ecc",
          curve: "curve25519Legacy",
          userIDs: [{ name: "bench", email: "bench@example.com" }],
          format: "armored",
        });
        secondDataflow = await fixture.dataflow(
          EVERYONE,
          profiles,
          "local",
          { root },
          { folderPath: "out2" },
          publicKey,
        );
      } else if (process.argv.includes("--concurrent")) {
        fs.mkdirSync(path.join(root, "out2"));
        secondDataflow = await fixture.dataflow(
          EVERYONE,
          profiles,
          "local",
          { root },
          { folderPath: "out2" },
        );
      }
    }
    if (sshd) {
      scenarios.push({
        name: "SFTP (OpenSSH sshd, loopback)",
        segmentId: sftpSegment,
        profiles: sftpProfiles,
        folder: sshd.writable,
        dataflowId: await fixture.dataflow(
          sftpSegment,
          sftpProfiles,
          "sftp",
          {
            host: sshd.host,
            port: sshd.port,
            username: sshd.keyUser.username,
            privateKey: sshd.keyUser.ed25519.privateKey,
            hostKeyFingerprint: sshd.hostKeyFingerprint,
          },
          { folderPath: sshd.writable },
        ),
      });
    } else if (sftpProfiles) console.log(`SFTP skipped: ${sshdProblem}`);
    await fixture.close();

    if (process.argv.includes("--concurrent") || process.argv.includes("--encrypted")) {
      const local = scenarios.find((sc) => sc.name === "local folder");
      if (!local)
        throw new Error("--concurrent and --encrypted measure the local export: leave out --only=sftp");
      if (process.argv.includes("--encrypted"))
        await measureEncrypted(script, dataDir, keyHex, local, secondDataflow);
      else await measureConcurrent(script, dataDir, keyHex, local, secondDataflow);
      return;
    }
    const results = [];
    for (const scenario of scenarios)
      results.push(await measureScenario(script, dir, dataDir, keyHex, scenario));

    console.log("\nTargets (issue 5)");
    for (const r of results) {
      const full = r.profiles >= 100_000_000;
      console.log(
        `${r.name}: ${r.herald.toFixed(1)} s${full ? ` (target < 180 s: ${r.herald < 180 ? "met" : "missed"})` : ""}, ` +
          `peak RSS ${mib(r.rss)} (target < 1024 MiB: ${r.rss < 1 << 30 ? "met" : "missed"}), ` +
          `${ratio(r.herald, r.limit)} the bare compression limit (target <= 1.5x: ${r.herald <= 1.5 * r.limit ? "met" : "missed"}), ` +
          `DuckDB's own gzip takes ${ratio(r.duckGzip, r.herald)} Herald's time`,
      );
    }
  } finally {
    await sshd?.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

// Last, once every declaration above is initialised: a child runs its task, the parent the benchmark.
const task = childTask<Task>();
if (task) await reportFromChild(() => runTask(task));
else await main();
