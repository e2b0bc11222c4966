/**
 * Ingestion benchmark (issue 2): a generated profiles CSV loaded by `ingestFile` into the DuckDB
 * store, beside DuckDB's own `read_csv` of the same file into a plain table in the same run (the
 * baseline: `CREATE TABLE plain AS SELECT * FROM read_csv(file)`, types detected by DuckDB). Each
 * load runs in its own child process, so its peak RSS is its own; loads alternate for a number of
 * rounds and the best time of each counts (the machine may be shared). Also: the generator's speed,
 * and PostgreSQL when a server is given.
 *
 *   node bench/ingest.ts                              # 1,000,000 profiles, 2 rounds
 *   PROFILES=100000 ROUNDS=1 node bench/ingest.ts
 *   HERALD_BENCH_POSTGRES_URL=postgres://user@127.0.0.1:5432/db node bench/ingest.ts
 *   MEMORY_LIMIT=512MB node bench/ingest.ts          # DuckDB's memory limit for both loads
 *
 * Targets: at least 0.5 of DuckDB's own rate, at least 200,000 profiles/s, peak RSS under 1 GiB.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { DuckDBInstance } from "@duckdb/node-api";
import { loadConfig } from "../src/config/index.ts";
import { ingestFile } from "../src/profiles/files/index.ts";
import { generateDataset } from "../src/profiles/generate/index.ts";
import { installDefaultSchema, loadSchema } from "../src/schema/index.ts";
import {
  createSandbox,
  migrate,
  openDuckDBStore,
  openPostgresStore,
  type Store,
} from "../src/store/index.ts";
import { type ChildResult, childTask, mib, reportFromChild, runChild, timed } from "./support/measure.ts";

const PROFILES = Number(process.env.PROFILES ?? 1_000_000);
const ROUNDS = Number(process.env.ROUNDS ?? 2);
const POSTGRES_URL = process.env.HERALD_BENCH_POSTGRES_URL;
/** Herald's default DuckDB settings (src/config): its default memory limit, every core. */
const MEMORY_LIMIT = process.env.MEMORY_LIMIT ?? loadConfig({}, {}).memoryLimit;
type Task = { load: "baseline" | "herald-duckdb" | "herald-postgres"; file: string; dir: string };
type Result = ChildResult & { rows: number; stored: number };

async function heraldStore(task: Task): Promise<Store> {
  const store =
    task.load === "herald-postgres"
      ? await openPostgresStore(POSTGRES_URL as string)
      : await openDuckDBStore({
          file: path.join(task.dir, "herald.duckdb"),
          memoryLimit: MEMORY_LIMIT,
          threads: os.cpus().length,
        });
  await migrate(store, store.engine);
  if (task.load === "herald-postgres") {
    // A fresh sandbox per run, so every run loads into an empty table.
    const sandbox = `bench_${Date.now()}`;
    await createSandbox(store, sandbox);
    await installDefaultSchema(store, sandbox);
    return Object.assign(store, { benchSandbox: sandbox });
  }
  await createSandbox(store, "prod");
  await installDefaultSchema(store, "prod");
  return store;
}

/** One load, in this (child) process. */
async function runTask(task: Task): Promise<{ seconds: number; rows: number; stored: number }> {
  if (task.load === "baseline") {
    const instance = await DuckDBInstance.create(path.join(task.dir, "baseline.duckdb"), {
      memory_limit: MEMORY_LIMIT,
      threads: String(os.cpus().length),
    });
    const connection = await instance.connect();
    const run = await timed(() =>
      connection.runAndReadAll("CREATE TABLE plain AS SELECT * FROM read_csv($1)", [task.file]),
    );
    const count = await connection.runAndReadAll("SELECT count(*) FROM plain");
    const rows = Number(count.getRows()[0]?.[0]);
    connection.closeSync();
    instance.closeSync();
    return { seconds: run.seconds, rows, stored: rows };
  }
  const store = await heraldStore(task);
  const sandbox = (store as Store & { benchSandbox?: string }).benchSandbox ?? "prod";
  const schema = await loadSchema(store, sandbox);
  const run = await timed(() => ingestFile(store, schema, { path: task.file, kind: "profiles" }));
  await store.close();
  if (run.value.rejected)
    throw new Error(`${run.value.rejected} rows rejected: ${JSON.stringify(run.value.issues.slice(0, 3))}`);
  return { seconds: run.seconds, rows: run.value.received, stored: run.value.stored };
}

const task = childTask<Task>();
if (task) {
  await reportFromChild(() => runTask(task));
  process.exit(0);
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "herald-bench-ingest-"));
const rate = (rows: number, s: number) => Math.round(rows / s).toLocaleString("en-US");
try {
  console.log(
    `ingestion benchmark: ${PROFILES.toLocaleString("en-US")} profiles, ${os.cpus().length} cores, best of ${ROUNDS}`,
  );
  const generated = await timed(() =>
    generateDataset({ profiles: PROFILES, eventsPerProfile: 0, seed: 42, outDir: path.join(dir, "data") }),
  );
  const file = generated.value.profilesFile;
  const size = fs.statSync(file).size;
  console.log(
    `generate: ${PROFILES.toLocaleString("en-US")} profiles (${mib(size)} CSV) in ${generated.seconds.toFixed(1)} s = ${rate(PROFILES, generated.seconds)} profiles/s`,
  );
  const loads: Task["load"][] = [
    "baseline",
    "herald-duckdb",
    ...(POSTGRES_URL ? (["herald-postgres"] as const) : []),
  ];
  const best = new Map<Task["load"], Result>();
  const all = new Map<Task["load"], number[]>();
  for (let round = 1; round <= ROUNDS; round++) {
    for (const load of loads) {
      const runDir = fs.mkdtempSync(path.join(dir, `${load}-`));
      const result = (await runChild(fileURLToPath(import.meta.url), { load, file, dir: runDir })) as Result;
      fs.rmSync(runDir, { recursive: true, force: true });
      console.log(
        `  round ${round} ${load.padEnd(16)} ${result.seconds.toFixed(2).padStart(7)} s ${rate(result.rows, result.seconds).padStart(10)} rows/s  CPU ${result.cpuSeconds.toFixed(1)} s  peak RSS ${mib(result.peakRssBytes)}`,
      );
      all.set(load, [...(all.get(load) ?? []), result.seconds]);
      const previous = best.get(load);
      if (!previous || result.seconds < previous.seconds) best.set(load, result);
      if (result.stored !== PROFILES)
        throw new Error(`${load} stored ${result.stored} of ${PROFILES} profiles`);
    }
  }
  const baseline = best.get("baseline") as Result;
  const median = (values: number[]) =>
    [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)] as number;
  console.log(`\nbest of ${ROUNDS} rounds (DuckDB memory limit ${MEMORY_LIMIT}):`);
  console.log("load                      seconds     rows/s   vs DuckDB read_csv   peak RSS");
  for (const load of loads) {
    const r = best.get(load) as Result;
    console.log(
      `${load.padEnd(24)} ${r.seconds.toFixed(2).padStart(8)} ${rate(r.rows, r.seconds).padStart(10)} ${(baseline.seconds / r.seconds).toFixed(2).padStart(12)}x ${mib(r.peakRssBytes).padStart(14)}`,
    );
  }
  const medianRatio = median(all.get("baseline") as number[]) / median(all.get("herald-duckdb") as number[]);
  console.log(`median of ${ROUNDS} rounds: herald-duckdb at ${medianRatio.toFixed(2)}x DuckDB's own rate`);
  const herald = best.get("herald-duckdb") as Result;
  const ratio = baseline.seconds / herald.seconds;
  const perSecond = herald.rows / herald.seconds;
  console.log(
    `\ntargets: ratio ${ratio.toFixed(2)} (>= 0.5 ${ratio >= 0.5 ? "met" : "NOT met"}), ${rate(herald.rows, herald.seconds)} profiles/s (>= 200,000 ${perSecond >= 200_000 ? "met" : "NOT met"}), peak RSS ${mib(herald.peakRssBytes)} (< 1 GiB ${herald.peakRssBytes < 2 ** 30 ? "met" : "NOT met"})`,
  );
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
