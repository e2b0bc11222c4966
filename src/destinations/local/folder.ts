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
 * The absolute, symlink-free path of the configured folder. Throws `not_found` naming `root` or
 * `folderPath` when one is missing, and `forbidden` when a symlink leads the folder out of the root.
 */
export async function resolveFolder(
  connection: LocalConnection,
  details: LocalDetails,
): Promise<{ folder: string; what: string }> {
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
  const relative = path.relative(root, folder);
  if (relative.startsWith("..") || path.isAbsolute(relative)) {
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
