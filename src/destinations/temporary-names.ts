import { randomBytes } from "node:crypto";
import { validationError } from "../errors/index.ts";

/**
 * File connectors deliver atomically: bytes go to a temporary name in the target folder, which is
 * renamed (or committed) to the final name only once complete. Every connector uses the names made
 * here, so listings can hide temporaries and cleanup can find them, whatever the connector.
 *
 * A temporary name is hidden (leading dot, ignored by most pickup jobs and `ls`), starts with one
 * fixed prefix (an S3 or Azure listing can ask for that prefix alone) and carries a random part, so
 * two uploads of the same file never share a temporary:
 *
 *   temporaryName("audience.csv")  // ".herald-tmp-3f9c0a1b2c4d-audience.csv"
 */
export const TEMPORARY_PREFIX = ".herald-tmp-";

/**
 * A temporary whose last write is older than this belongs to an upload that died: cleanup removes
 * it. Younger ones may be another run's upload in progress (two dataflows can share a folder), so
 * they are left alone; they are hidden from listings meanwhile.
 */
export const STALE_TEMPORARY_AGE_MS = 60 * 60 * 1000;

/** Most file systems and object stores limit one name to 255 bytes. */
const MAX_NAME_BYTES = 255;

const temporaryPattern = /^\.herald-tmp-[0-9a-f]{12}-/;

/** The temporary name under which `name` is written before its rename. */
export function temporaryName(name: string): string {
  const prefix = `${TEMPORARY_PREFIX}${randomBytes(6).toString("hex")}-`;
  // The final name may use all 255 bytes; its temporary then keeps only the start of it.
  const characters = Array.from(name);
  while (Buffer.byteLength(prefix + characters.join("")) > MAX_NAME_BYTES) characters.pop();
  return prefix + characters.join("");
}

/** True for names made by `temporaryName` (a bare file name, not a path). */
export function isTemporaryName(name: string): boolean {
  return temporaryPattern.test(name);
}

/** True when a temporary last written at `modifiedAt` is old enough to be a dead upload's. */
export function isStaleTemporary(name: string, modifiedAt: Date, now = new Date()): boolean {
  return isTemporaryName(name) && now.getTime() - modifiedAt.getTime() >= STALE_TEMPORARY_AGE_MS;
}

/**
 * Checks a name given to `putFile`/`getFile`: one file name inside the configured folder, never a
 * path, never a temporary's name. Throws a `validation` error naming the file.
 */
export function assertPlainFileName(name: string): void {
  const problem =
    name === "" || name === "." || name === ".."
      ? "is not a file name"
      : /[/\\\0]/.test(name)
        ? "must be a file name, without '/', '\\' or NUL"
        : Buffer.byteLength(name) > MAX_NAME_BYTES
          ? `is longer than ${MAX_NAME_BYTES} bytes`
          : isTemporaryName(name)
            ? `starts with '${TEMPORARY_PREFIX}', which is reserved for uploads in progress`
            : undefined;
  if (problem) {
    throw validationError(`File name '${name}' ${problem}`, [{ field: "fileName", message: problem }]);
  }
}
