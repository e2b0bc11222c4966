/**
 * What the export and connector benchmarks share: a scale factor for quick runs, timing, a child
 * process whose peak RSS is its own (the parent's generated data and caches stay out of the figure),
 * and the printing of figures beside their baselines.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";

/**
 * HERALD_BENCH_SCALE (or `--scale=0.01` on the command line) multiplies every size: 1 is the
 * issue's full size, 0.01 a quick run.
 */
export function benchScale(): number {
  const flag = process.argv.find((a) => a.startsWith("--scale="))?.slice("--scale=".length);
  const scale = Number(flag ?? process.env.HERALD_BENCH_SCALE ?? 1);
  if (!(scale > 0))
    throw new Error(`the scale must be a positive number, not '${flag ?? process.env.HERALD_BENCH_SCALE}'`);
  return scale;
}

/** Refuses to start a run that would fill the disk holding `dir`, saying what it needs. */
export function ensureFreeDisk(dir: string, bytes: number, what: string): void {
  const stats = fs.statfsSync(dir);
  const free = stats.bavail * stats.bsize;
  if (free < bytes) {
    throw new Error(
      `${what} needs about ${(bytes / 1e9).toFixed(1)} GB free under ${dir}, ${(free / 1e9).toFixed(1)} GB are: lower HERALD_BENCH_SCALE or set HERALD_BENCH_DIR`,
    );
  }
}

export async function timed<T>(work: () => Promise<T>): Promise<{ value: T; seconds: number }> {
  const started = performance.now();
  const value = await work();
  return { value, seconds: (performance.now() - started) / 1000 };
}

const RESULT = "BENCH_RESULT ";
const CHILD = "--bench-child=";

/** The task a child process was started for, or undefined in the parent. */
export function childTask<T>(): T | undefined {
  const arg = process.argv.find((a) => a.startsWith(CHILD));
  return arg ? (JSON.parse(arg.slice(CHILD.length)) as T) : undefined;
}

/**
 * Runs `work` as the child's whole job and reports its result with the process's peak RSS
 * (getrusage's maxrss: the high-water mark of resident memory, DuckDB's native memory included)
 * and the CPU time of all its threads during the work: on a shared, loaded machine CPU seconds compare where wall
 * seconds only tell how busy the neighbours were.
 */
export async function reportFromChild(
  work: () => Promise<{ seconds: number; [key: string]: unknown }>,
): Promise<void> {
  try {
    const before = process.resourceUsage();
    const result = await work();
    const usage = process.resourceUsage();
    const peakRssBytes = usage.maxRSS * 1024;
    const cpuSeconds =
      (usage.userCPUTime + usage.systemCPUTime - before.userCPUTime - before.systemCPUTime) / 1e6;
    process.stdout.write(`${RESULT}${JSON.stringify({ ...result, peakRssBytes, cpuSeconds })}\n`);
    process.exit(0);
  } catch (error) {
    console.error(error);
    process.exit(1);
  }
}

/** What a child reports: the seconds its measured work took, its peak RSS, and its own figures. */
export interface ChildResult {
  seconds: number;
  peakRssBytes: number;
  /** User + system CPU of the child's work (module loading excluded), every thread. */
  cpuSeconds: number;
  [key: string]: unknown;
}

/** Starts `script` again with a task; resolves with what the child reported. */
export function runChild(script: string, task: unknown, env: NodeJS.ProcessEnv = {}): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, `${CHILD}${JSON.stringify(task)}`], {
      env: { ...process.env, ...env },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString();
    });
    child.once("error", reject);
    child.once("exit", (code) => {
      const line = out.split("\n").find((l) => l.startsWith(RESULT));
      if (code !== 0 || !line) {
        reject(new Error(`the benchmark's child process exited with ${code}:\n${out}`));
        return;
      }
      resolve(JSON.parse(line.slice(RESULT.length)) as ChildResult);
    });
  });
}

export const MB = 1_000_000;
export const MiB = 1 << 20;

export const mib = (bytes: number) => `${(bytes / MiB).toFixed(0)} MiB`;
export const mbPerSecond = (bytes: number, seconds: number) => `${(bytes / MB / seconds).toFixed(1)} MB/s`;
export const perSecond = (count: number, seconds: number) =>
  `${Math.round(count / seconds).toLocaleString("en-US")}/s`;
export const ratio = (value: number, baseline: number) => `${(value / baseline).toFixed(2)}x`;

/** Prints rows of cells as aligned columns. */
export function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join("  ")
      .trimEnd();
  console.log(line(header));
  for (const row of rows) console.log(line(row));
}
