/**
 * Runs the benchmarks, one child process each, in sequence: every `bench/*.ts` but this one, or
 * only those named (`node bench/run.ts ingest segments`). Each prints its own figures beside its
 * baselines; the exit code is non-zero if any failed.
 *
 *   npm run bench
 *   npm run bench -- ingest
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const available = fs
  .readdirSync(here)
  .filter((f) => f.endsWith(".ts") && f !== "run.ts")
  .map((f) => f.slice(0, -".ts".length))
  .sort();
const asked = process.argv.slice(2).map((name) => name.replace(/\.ts$/, "").replace(/^bench\//, ""));
const unknown = asked.filter((name) => !available.includes(name));
if (unknown.length) {
  console.error(`unknown benchmark ${unknown.join(", ")}; available: ${available.join(", ")}`);
  process.exit(2);
}
const chosen = asked.length ? asked : available;
// Node 24 from node_modules (DESIGN.md), the same binary npm scripts use; else this process's own.
const localNode = path.join(here, "..", "node_modules", ".bin", "node");
const node = fs.existsSync(localNode) ? localNode : process.execPath;

const failed: string[] = [];
for (const name of chosen) {
  console.log(`\n=== bench/${name}.ts ===`);
  const started = performance.now();
  const code = await new Promise<number>((resolve) => {
    const child = spawn(node, [path.join(here, `${name}.ts`)], { stdio: "inherit" });
    child.on("error", () => resolve(1));
    child.on("close", (exit) => resolve(exit ?? 1));
  });
  console.log(
    `=== bench/${name}.ts ${code === 0 ? "done" : `FAILED (exit ${code})`} in ${((performance.now() - started) / 1000).toFixed(1)} s ===`,
  );
  if (code !== 0) failed.push(name);
}
if (failed.length) {
  console.error(`\nfailed: ${failed.join(", ")}`);
  process.exitCode = 1;
}
