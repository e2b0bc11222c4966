import fs from "node:fs/promises";
import path from "node:path";
import { HeraldError } from "../../errors/index.ts";
import { temporaryName } from "../temporary-names.ts";
import type { LocalConnection, LocalDetails } from "./schemas.ts";

/** The operating system's error code (ENOENT, EACCES, ...) when `error` carries one. */
export function errorCode(error: unknown): string | undefined {
  return error instanceof Error && "code" in error && typeof error.code === "string" ? error.code : undefined;
}

/**
 * Turns a file-system failure into a HeraldError naming the setting or file at fault: missing →
 * `not_found`, no permission or read-only → `forbidden`, anything else (full disk, I/O) → `unavailable`.
 */
export function fileSystemError(error: unknown, what: string): HeraldError {
  const code = errorCode(error);
  switch (code) {
    case "ENOENT":
    case "ENOTDIR":
      return new HeraldError("not_found", "folder_not_found", `${what} does not exist`);
    case "EACCES":
    case "EPERM":
    case "EROFS":
      return new HeraldError(
        "forbidden",
        "folder_not_writable",
        `${what} cannot be written by the Herald process (${code}: permission denied)`,
      );
    default:
      return new HeraldError(
        "unavailable",
        "local_io_error",
        `${what}: ${code ?? (error instanceof Error ? error.message : String(error))}`,
      );
  }
}

/**
 * The folders an account's root must be in (HERALD_LOCAL_ROOTS, read by src/config), or `"any"`:
 * every absolute root, for tests and library use that ask for it; the server never does.
 */
export type AllowedRoots = readonly string[] | "any";

const isInside = (folder: string, candidate: string) => {
  const relative = path.relative(folder, candidate);
  return relative === "" || (!relative.startsWith("..") && !path.isAbsolute(relative));
};

/**
 * The path with every symbolic link and `..` resolved, even when its end does not exist: the
 * nearest existing ancestor is resolved, the missing rest appended. So `allowed/link/missing` is
 * judged where the link leads.
 */
async function realPathOf(candidate: string): Promise<string> {
  const absolute = path.resolve(candidate);
  const missing: string[] = [];
  for (let at = absolute; ; at = path.dirname(at)) {
    const real = await fs.realpath(at).catch(() => undefined);
    if (real !== undefined) return path.join(real, ...missing.reverse());
    if (path.dirname(at) === at) return absolute;
    missing.push(path.basename(at));
  }
}

/**
 * Refuses a root outside the allowed folders with one message, before anything else touches it:
 * the refusal says nothing of whether the path exists, is a file or is readable (Herald may run
 * as root, and an account must not probe the server's disk).
 */
export async function assertAllowedRoot(root: string, allowedRoots: AllowedRoots): Promise<void> {
  if (allowedRoots === "any") return;
  const real = await realPathOf(root);
  for (const folder of allowedRoots) {
    if (isInside(await realPathOf(folder), real)) return;
  }
  const message = "outside the folders Herald may write to (HERALD_LOCAL_ROOTS)";
  throw new HeraldError("forbidden", "root_not_allowed", `connection.root: ${message}`, [
    { field: "connection.root", message },
  ]);
}

/**
 * The absolute, symlink-free path of the configured folder. Throws `forbidden` when the root is
 * outside the allowed folders, `not_found` naming `root` or `folderPath` when one is missing, and
 * `forbidden` when a symlink leads the folder out of the root.
 */
export async function resolveFolder(
  connection: LocalConnection,
  details: LocalDetails,
  allowedRoots: AllowedRoots,
): Promise<{ folder: string; what: string }> {
  await assertAllowedRoot(connection.root, allowedRoots);
  const root = await fs.realpath(connection.root).catch((error: unknown) => {
    throw fileSystemError(error, `root '${connection.root}'`);
  });
  const folderPath = details.folderPath ?? "";
  const what = folderPath
    ? `folderPath '${folderPath}' (in root '${connection.root}')`
    : `root '${connection.root}'`;
  const folder = await fs.realpath(path.resolve(root, folderPath)).catch((error: unknown) => {
    throw fileSystemError(error, what);
  });
  if (!isInside(root, folder)) {
    throw new HeraldError(
      "forbidden",
      "folder_outside_root",
      `${what} leads outside the root through a symbolic link`,
    );
  }
  if (!(await fs.stat(folder)).isDirectory()) {
    throw new HeraldError("not_found", "folder_not_found", `${what} is a file, not a folder`);
  }
  return { folder, what };
}

/** Proves the folder is writable the way deliveries use it: create, then remove, a temporary. */
export async function checkWritable(folder: string, what: string): Promise<void> {
  const probe = path.join(folder, temporaryName("write-check"));
  await fs.writeFile(probe, "", { flag: "wx" }).catch((error: unknown) => {
    throw fileSystemError(error, what);
  });
  await fs.rm(probe, { force: true }).catch((error: unknown) => {
    throw fileSystemError(error, what);
  });
}
