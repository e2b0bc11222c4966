/**
 * The CPU of each step of Herald's table-order CSV export (docs/benchmarks.md, batch export),
 * measured apart in one process on a store bench/export.ts generated (HERALD_BENCH_CACHE keeps
 * them): the members' count, the members' bitmap, the slices scanned and filtered without CSV, the
 * slices written as CSV by DuckDB (one COPY each, as Herald runs them, into files), then Node's side
 * on those bytes: reading, row splitting, the bare compression limit (zlib alone on 2 threads, as
 * bench/export.ts measures it), splitting + parallel gzip + SHA-256. Run it on a copy:
 *
 *   cp /var/tmp/herald-bench/export-v1-10000000.duckdb /tmp/steps.duckdb
 *   flock /tmp/herald-bench.lock node bench/support/export-steps.ts /tmp/steps.duckdb [segment] [dir]
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { gzipInParallel } from "../../src/activation/export/parallel-gzip.ts";
import { RowSplitter } from "../../src/activation/export/row-splitter.ts";
import { buildAudienceQuery } from "../../src/activation/index.ts";
import { loadSchema } from "../../src/schema/index.ts";
import { segmentMemberships } from "../../src/segments/index.ts";
import { DEFAULT_SANDBOX, openDuckDBStore } from "../../src/store/index.ts";
import { scopePlan } from "../../src/store/scoping.ts";
import { zlibLimit } from "./zlib-limit.ts";

const [file, segmentId = "everyone", parent = os.tmpdir()] = process.argv.slice(2);
if (!file) throw new Error("usage: export-steps.ts <store.duckdb> [segment] [dir for the CSV]");
const dir = fs.mkdtempSync(path.join(parent, "herald-export-steps-"));
const store = await openDuckDBStore({ file, memoryLimit: process.env.HERALD_MEMORY_LIMIT ?? "1GB" });

async function step(label: string, work: () => Promise<unknown>) {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const result = await work();
  const used = process.cpuUsage(cpu);
  console.log(
    `${label.padEnd(46)} ${((performance.now() - started) / 1000).toFixed(2).padStart(7)} s wall` +
      `${((used.user + used.system) / 1e6).toFixed(2).padStart(8)} CPU s` +
      `   peak RSS so far ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB   ${result ?? ""}`,
  );
}

const attribute = (fieldPath: string, target: string) => ({
  source: { kind: "attribute" as const, path: fieldPath },
  target,
});
// bench/export.ts's mapping.
const query = buildAudienceQuery({
  schema: await loadSchema(store, DEFAULT_SANDBOX),
  dialect: store.dialect,
  mapping: {
    columns: [
      attribute("personalEmail.address", "email"),
      attribute("person.name.firstName", "first_name"),
      attribute("person.name.lastName", "last_name"),
      attribute("homeAddress.city", "city"),
      attribute("loyalty.points", "points"),
    ],
  } as Parameters<typeof buildAudienceQuery>[0]["mapping"],
  memberships: segmentMemberships,
  segmentId,
  mode: "full",
});
const tableOrder = query.tableOrder;
if (!tableOrder) throw new Error("this mapping has no table-order plan");
const files: string[] = [];
let members = 0;
try {
  let slots = 0;
  await step("members' count", async () => {
    const [row] = await store.query<{ n: number }>(DEFAULT_SANDBOX, query.membersSql, query.params);
    members = Number(row?.n);
    return members;
  });
  await step("row slots", async () => {
    const [row] = await store.query<{ n: number }>(DEFAULT_SANDBOX, tableOrder.rowSlotsSql);
    slots = Number(row?.n);
  });
  const plan = scopePlan(store.dialect, DEFAULT_SANDBOX, tableOrder.plan(slots), (v) => v);
  const connection = await store.instance.connect();
  await connection.run("SET SESSION preserve_insertion_order = true");
  await connection.run("BEGIN TRANSACTION");
  await step("members' bitmap (setup)", async () => {
    for (const s of plan.setup) await connection.run(s.sql, s.params as never);
  });
  // The floor of any formatter on this store: every value read (max of each column), no text made.
  await step("slices: scan + bit filter, values only", async () => {
    let rows = 0;
    for (const q of plan.queries) {
      const reader = await connection.runAndReadAll(`SELECT count(*), max(COLUMNS(*)) FROM (${q.sql})`);
      rows += Number(reader.getRows()[0]?.[0]);
    }
    return `${rows} rows`;
  });
  await step("slices: scan + bit filter, no CSV", async () => {
    let rows = 0;
    for (const q of plan.queries) {
      const reader = await connection.runAndReadAll(
        `SELECT count(*), sum(length(CAST(COLUMNS(*) AS VARCHAR))) FROM (${q.sql})`,
      );
      rows += Number(reader.getRows()[0]?.[0]);
    }
    return `${rows} rows`;
  });
  await step("slices: DuckDB COPY to CSV, one per slice", async () => {
    for (const [k, q] of plan.queries.entries()) {
      const out = path.join(dir, `slice-${k}.csv`);
      await connection.run(`COPY (${q.sql}) TO '${out}' (FORMAT csv, HEADER ${k === 0})`);
      files.push(out);
    }
    return `${(files.reduce((sum, f) => sum + fs.statSync(f).size, 0) / 2 ** 20).toFixed(0)} MiB`;
  });
  await connection.run("COMMIT");
  connection.closeSync();
} finally {
  await store.close();
}

async function* csvBytes() {
  for (const f of files) yield* fs.createReadStream(f, { highWaterMark: 4 << 20 });
}
// In 5 files, as bench/export.ts's dataflow.
const splitter = () =>
  new RowSplitter(csvBytes(), { maxRows: Math.ceil(members / 5), header: true, quote: '"', escape: '"' });
try {
  await step("Node: reading the CSV (4 MiB reads)", async () => {
    let bytes = 0;
    for await (const b of csvBytes()) bytes += b.length;
    return `${bytes} bytes`;
  });
  await step("Node: reading + row splitter", async () => {
    const s = splitter();
    let bytes = 0;
    while (await s.hasMore()) for await (const b of s.nextFile()) bytes += b.length;
    return `${bytes} bytes`;
  });
  // The bare compression limit on the same bytes (bench/export.ts): zlib alone, 2 threads.
  await step("bare compression limit: zlib, 2 threads", async () => {
    let busiest = 0;
    for (const f of files) busiest += (await zlibLimit(f, 2, 1)).seconds;
    return `${busiest.toFixed(2)} s inside gzip on the busiest worker`;
  });
  await step("Node: reading + splitter + gzip + SHA-256", async () => {
    const s = splitter();
    let bytes = 0;
    while (await s.hasMore()) {
      const hash = createHash("sha256");
      for await (const b of gzipInParallel(s.nextFile(), { level: 1 })) {
        hash.update(b);
        bytes += b.length;
      }
    }
    return `${bytes} bytes gzipped`;
  });
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
