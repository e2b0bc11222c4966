import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { anyFolder } from "./local-roots.ts";

const run = promisify(execFile);
const main = path.resolve("src/cli/main.ts");

/**
 * The `herald` command as users run it: a child process on the embedded store in `dataDir`, stdin
 * not a terminal. Resolves with the exit code and both outputs, whatever the exit code.
 */
export function herald(
  dataDir: string,
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  return heraldWithEnv({}, dataDir, ...args);
}

/** `herald` with more environment variables (HERALD_KEY_PROVIDER, AWS_ACCESS_KEY_ID, ...). */
export async function heraldWithEnv(
  env: Record<string, string>,
  dataDir: string,
  ...args: string[]
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [main, ...args, "--data-dir", dataDir], {
      env: { ...process.env, HERALD_LOG_LEVEL: "silent", HERALD_LOCAL_ROOTS: anyFolder, ...env },
      timeout: 60_000,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? -1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}
