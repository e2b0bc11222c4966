/**
 * The store's other heavy paths at a given HERALD_MEMORY_LIMIT (issue 5: peak RSS under 1 GiB), on
 * a copy of bench/export.ts's generated store (HERALD_BENCH_CACHE), each in its own child process
 * (its wall seconds, CPU seconds and peak RSS are its own), each on a fresh copy of the store:
 *
 *   - evaluate-new: `evaluateSegments` of two new segments defined as export.ts's two (everyone; a
 *     tenth) — the generation's evaluation: every member enters;
 *   - evaluate-again: `evaluateSegments` of export.ts's two segments again (the daily run: every
 *     member stays, realized → existing);
 *   - dedup: the everyone segment exported to the local folder with a deduplication key (email),
 *     gzip CSV in <= 5 files (the mapping's window and profile-id order instead of the bitmap);
 *     dedup-tenth: the same for the tenth segment;
 *   - parquet, jsonl: the tenth segment (a tenth of the store) as one Parquet file, and as gzip
 *     JSON Lines in <= 5 files; parquet-all, jsonl-all: the everyone segment; parquet-parts: the
 *     tenth as Parquet in 5 files.
 *
 * A path that fails (out of memory) is reported as FAILED and the next one runs.
 * HERALD_BENCH_TRACE=1 prints every statement's seconds, and the one that failed, on stderr.
 *
 *   HERALD_MEMORY_LIMIT=448MB HERALD_BENCH_CACHE=/var/tmp/herald-bench-cache \
 *     node bench/support/memory-paths.ts --profiles=100000000 --tasks=evaluate-new,dedup,parquet,jsonl
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pino } from "pino";
import { createDataflow, type FileOptionsInput } from "../../src/activation/index.ts";
import { migrateParts, wireParts } from "../../src/api/index.ts";
import { loadConfig } from "../../src/config/index.ts";
import { localKeyProvider } from "../../src/crypto/index.ts";
import { createAccount } from "../../src/destinations/index.ts";
import { loadSchema } from "../../src/schema/index.ts";
import { createSegment, evaluateSegments } from "../../src/segments/index.ts";
import { DEFAULT_SANDBOX, type Executor, openStore, type Store } from "../../src/store/index.ts";
import { childTask, mib, reportFromChild, runChild, timed } from "./measure.ts";
import { timedSegmentExport } from "./segment-export.ts";

const SANDBOX = DEFAULT_SANDBOX;
/** Local-folder accounts write in the work dir's `local` folder, beside the data dir. */
const config = (dataDir: string) =>
  loadConfig({ dataDir, localRoots: path.join(dataDir, "..", "local") }, process.env);

type Task =
  | { kind: "evaluate"; dataDir: string; segmentIds: string[] }
  | { kind: "export"; dataDir: string; keyHex: string; dataflowId: string; segmentId: string };

/**
 * HERALD_BENCH_TRACE=1: every statement's seconds on stderr, and the one that failed (where a path
 * runs out of memory). Exports' streams are timed from their start to their end or error.
 */
function traced(store: Store): Store {
  const t0 = performance.now();
  const log = (what: string, sql: string, started: number, error?: unknown) =>
    console.error(
      `  [trace ${((performance.now() - t0) / 1000).toFixed(1)} s] ${what} ${((performance.now() - started) / 1000).toFixed(1)} s${error ? ` FAILED ${String(error).split("\n")[0]}` : ""}: ${sql.replace(/\s+/g, " ").slice(0, 160)}`,
    );
  const wrap = (e: Executor): Executor => ({
    query: async <T>(sandbox: string, sql: string, params?: readonly unknown[]) => {
      const started = performance.now();
      try {
        const rows = await e.query<T>(sandbox, sql, params);
        log("query", sql, started);
        return rows;
      } catch (error) {
        log("query", sql, started, error);
        throw error;
      }
    },
    queryGlobal: (sql, params) => e.queryGlobal(sql, params),
    writeAll: (sandbox, statements) => e.writeAll(sandbox, statements),
  });
  const stream = (sql: string, s: ReturnType<Store["exportQuery"]>) => {
    const started = performance.now();
    s.once("end", () => log("export", sql, started)).once("error", (error) =>
      log("export", sql, started, error),
    );
    return s;
  };
  return {
    ...store,
    ...wrap(store),
    exportQuery: (sandbox, sql, params, format) =>
      stream(sql, store.exportQuery(sandbox, sql, params, format)),
    exportPlan: (sandbox, plan, format) =>
      stream(plan.setup[0]?.sql ?? plan.queries[0]?.sql ?? "", store.exportPlan(sandbox, plan, format)),
    transaction: (work) => store.transaction((tx) => work(wrap(tx))),
  };
}

async function runTask(task: Task): Promise<{ seconds: number; [key: string]: unknown }> {
  const c = config(task.dataDir);
  const opened = (await openStore(c)).store;
  const store = process.env.HERALD_BENCH_TRACE ? traced(opened) : opened;
  try {
    if (task.kind === "evaluate") {
      const schema = await loadSchema(store, SANDBOX);
      const { value, seconds } = await timed(() => evaluateSegments(store, SANDBOX, schema, task.segmentIds));
      return { seconds, sizes: value.map((e) => `${e.segmentId}: ${e.size} (${e.realized} realized)`) };
    }
    const deps = wireParts({
      config: c,
      store,
      logger: pino({ level: "silent" }),
      keys: localKeyProvider(Buffer.from(task.keyHex, "hex")),
    });
    return await timedSegmentExport(deps, SANDBOX, task.dataflowId, task.segmentId);
  } finally {
    await opened.close();
  }
}

const columns = [
  { source: { kind: "attribute" as const, path: "personalEmail.address" }, target: "email" },
  { source: { kind: "attribute" as const, path: "person.name.firstName" }, target: "first_name" },
  { source: { kind: "attribute" as const, path: "person.name.lastName" }, target: "last_name" },
  { source: { kind: "attribute" as const, path: "homeAddress.city" }, target: "city" },
  { source: { kind: "attribute" as const, path: "loyalty.points" }, target: "points" },
];

/** The parent's setup on a fresh copy: the task's segments or its account and dataflow. */
async function prepare(name: string, dataDir: string, keyHex: string, profiles: number): Promise<Task> {
  const c = config(dataDir);
  const { store } = await openStore(c);
  try {
    await migrateParts(store);
    if (name === "evaluate-again") return { kind: "evaluate", dataDir, segmentIds: ["everyone", "tenth"] };
    if (name === "evaluate-new") {
      await createSegment(store, SANDBOX, {
        id: "everyone2",
        name: "Everyone 2",
        definition: "loyalty.points >= 0",
      });
      await createSegment(store, SANDBOX, {
        id: "tenth2",
        name: "Tenth 2",
        definition: "loyalty.points < 1000",
      });
      return { kind: "evaluate", dataDir, segmentIds: ["everyone2", "tenth2"] };
    }
    const deps = wireParts({
      config: c,
      store,
      logger: pino({ level: "silent" }),
      keys: localKeyProvider(Buffer.from(keyHex, "hex")),
    });
    const segmentId = name === "dedup" || name.endsWith("-all") ? "everyone" : "tenth";
    const dedup = name.startsWith("dedup");
    const rows = segmentId === "everyone" ? profiles : profiles / 10;
    const fileOptions: FileOptionsInput = name.startsWith("parquet")
      ? name === "parquet-parts"
        ? { format: "parquet", compression: "none", maxRowsPerFile: Math.ceil(rows / 5), maxFiles: 5 }
        : { format: "parquet", compression: "none", maxFiles: 1 }
      : {
          format: name.startsWith("jsonl") ? "jsonl" : "csv",
          compression: "gzip",
          maxRowsPerFile: Math.ceil(rows / 5),
          maxFiles: 5,
        };
    const root = path.join(dataDir, "..", "local");
    fs.mkdirSync(path.join(root, "out"), { recursive: true });
    const account = await createAccount(deps, SANDBOX, {
      destinationId: "local",
      name: "local",
      connection: { root },
      details: { folderPath: "out" },
    });
    const dataflow = await createDataflow(deps, SANDBOX, {
      name: `memory paths: ${name}`,
      accountId: account.id,
      details: { folderPath: "out" },
      marketingActions: ["email_targeting"],
      segments: [
        {
          segmentId,
          schedule: { frequency: "daily", time: "06:00", timezone: "UTC" },
          fileNameTemplate: "%SEGMENT_NAME%_%DATETIME(yyyyMMdd)%",
        },
      ],
      mapping: { columns, ...(dedup ? { deduplicationKey: ["email"] } : {}) },
      fileOptions,
      status: "enabled",
    });
    return { kind: "export", dataDir, keyHex, dataflowId: dataflow.id, segmentId };
  } finally {
    await store.close();
  }
}

async function main() {
  const arg = (name: string) => process.argv.find((a) => a.startsWith(`--${name}=`))?.slice(name.length + 3);
  const profiles = Number(arg("profiles") ?? 100_000_000);
  const tasks = (arg("tasks") ?? "evaluate-new,evaluate-again,dedup,parquet,jsonl").split(",");
  const cached = path.join(process.env.HERALD_BENCH_CACHE ?? "", `export-v1-${profiles}.duckdb`);
  if (!process.env.HERALD_BENCH_CACHE || !fs.existsSync(cached))
    throw new Error(`no generated store at ${cached}: run bench/export.ts with HERALD_BENCH_CACHE first`);
  const dir = fs.mkdtempSync(path.join(process.env.HERALD_BENCH_DIR ?? os.tmpdir(), "herald-memory-paths-"));
  const keyHex = randomBytes(32).toString("hex");
  const script = new URL(import.meta.url).pathname;
  console.log(
    `${profiles.toLocaleString("en-US")} profiles, HERALD_MEMORY_LIMIT=${config(dir).memoryLimit}, ${os.cpus().length} cores, work dir ${dir}`,
  );
  try {
    for (const name of tasks) {
      const dataDir = path.join(dir, "data");
      fs.rmSync(dir, { recursive: true, force: true });
      fs.mkdirSync(dataDir, { recursive: true });
      fs.copyFileSync(cached, path.join(dataDir, "herald.duckdb"));
      const task = await prepare(name, dataDir, keyHex, profiles);
      const started = new Date().toISOString().slice(11, 19);
      const load = fs.readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
      try {
        const r = await runChild(script, task);
        const { seconds, cpuSeconds, peakRssBytes, ...rest } = r;
        console.log(
          `${name}: ${seconds.toFixed(1)} s, ${cpuSeconds.toFixed(1)} CPU s, peak RSS ${mib(peakRssBytes)}` +
            ` (started ${started} UTC, load ${load}) ${JSON.stringify(rest)}`,
        );
      } catch (error) {
        console.log(`${name}: FAILED (started ${started} UTC, load ${load}): ${(error as Error).message}`);
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const task = childTask<Task>();
if (task) await reportFromChild(() => runTask(task));
else await main();
