/**
 * What an integer profile key would save the table-order export (docs/benchmarks.md, "What an
 * integer profile key would save"): the members' bitmap as Herald builds it (the memberships' TEXT
 * ids joined with the profiles' `_id`), then from a copy of the memberships carrying each profile's
 * row number (made first, untimed, at 8GB), with and without a join. On a copy of a store
 * bench/export.ts generated:
 *
 *   cp /var/tmp/herald-bench-cache/export-v1-100000000.duckdb /tmp/exp.duckdb
 *   flock /tmp/herald-bench.lock node bench/support/integer-key-bitmap.ts /tmp/exp.duckdb
 */
import { DuckDBInstance } from "@duckdb/node-api";

const [file] = process.argv.slice(2);
if (!file) throw new Error("usage: integer-key-bitmap.ts <copy of a generated store>");
const db = await DuckDBInstance.create(file);
const connection = await db.connect();
const SLICE = 1 << 20;

async function step(label: string, sql: string) {
  const cpu = process.cpuUsage();
  const started = performance.now();
  const rows = (await connection.runAndReadAll(sql)).getRows();
  const used = process.cpuUsage(cpu);
  console.log(
    `${label.padEnd(44)} ${((performance.now() - started) / 1000).toFixed(1).padStart(6)} s wall` +
      `${((used.user + used.system) / 1e6).toFixed(1).padStart(7)} CPU s  peak RSS ${(process.resourceUsage().maxRSS / 1024).toFixed(0)} MiB  ${String(rows[0])}`,
  );
}

await connection.run("SET threads = 2");
await connection.run("SET memory_limit = '8GB'");
await step(
  "setup: memberships with integer keys",
  `CREATE OR REPLACE TABLE keyed_memberships AS SELECT m.segment_id, m.status, p.rowid AS profile_key
     FROM segment_memberships m JOIN sb_prod.profiles p ON p._id = m.profile_id`,
);
await connection.run(`SET memory_limit = '${process.env.HERALD_MEMORY_LIMIT ?? "448MB"}'`);
// The bitmap's statement as Herald's plan has it (audience-query.ts), counted instead of kept.
const bitmap = (ids: string) => `SELECT count(*) AS slices, sum(bit_count(bits)) AS members FROM (
    SELECT ids.k // ${SLICE} AS slice, bitstring_agg(ids.k % ${SLICE}, 0, ${SLICE - 1}) AS bits
    FROM (${ids}) AS ids GROUP BY slice)`;
const members = "segment_id = 'everyone' AND status IN ('realized', 'existing')";
await step(
  "TEXT ids, semi join (Herald's)",
  bitmap(`SELECT p.rowid AS k FROM sb_prod.profiles p
    WHERE p._id IN (SELECT m.profile_id FROM segment_memberships m WHERE m.sandbox = 'prod' AND m.${members})`),
);
await step(
  "integer keys, semi join with profiles",
  bitmap(`SELECT p.rowid AS k FROM sb_prod.profiles p
    WHERE p.rowid IN (SELECT profile_key FROM keyed_memberships WHERE ${members})`),
);
await step(
  "integer keys alone, no join",
  bitmap(`SELECT profile_key AS k FROM keyed_memberships WHERE ${members}`),
);
connection.closeSync();
