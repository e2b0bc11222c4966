import { isUtf8 } from "node:buffer";
import fs from "node:fs";
import path from "node:path";
import zlib from "node:zlib";
import { HeraldError, isHeraldError, validationError } from "../../errors/index.ts";

export type FileFormat = "csv" | "jsonl" | "parquet";

export interface FileInput {
  path: string;
  format: FileFormat;
  /** gzip-compressed: by the `.gz` suffix or by its magic bytes. */
  gzip: boolean;
  /** The CSV delimiter to use when none is given: tab for `.tsv`, else comma. */
  defaultDelimiter: string;
}

const GZIP_MAGIC = [0x1f, 0x8b];
const PARQUET_MAGIC = "PAR1";

function firstBytes(file: string, count: number): Buffer {
  const fd = fs.openSync(file, "r");
  try {
    const buffer = Buffer.alloc(count);
    const read = fs.readSync(fd, buffer, 0, count, 0);
    return buffer.subarray(0, read);
  } finally {
    fs.closeSync(fd);
  }
}

/** The first bytes after decompression, to recognise a gzip file's content. */
function firstGunzippedBytes(file: string): Buffer {
  const head = firstBytes(file, 64 * 1024);
  try {
    return zlib.gunzipSync(head, { finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, 16);
  } catch {
    return Buffer.alloc(0);
  }
}

function formatFromName(name: string): FileFormat | undefined {
  const ext = path.extname(name.toLowerCase());
  if ([".csv", ".tsv", ".txt"].includes(ext)) return "csv";
  if ([".jsonl", ".ndjson", ".json"].includes(ext)) return "jsonl";
  if ([".parquet", ".pq"].includes(ext)) return "parquet";
  return undefined;
}

function formatFromContent(bytes: Buffer): FileFormat {
  if (bytes.subarray(0, 4).toString("latin1") === PARQUET_MAGIC) return "parquet";
  const text = bytes
    .toString("utf8")
    .replace(/^\ufeff/, "")
    .trimStart();
  return text.startsWith("{") ? "jsonl" : "csv";
}

/**
 * Works out how to read a file: gzip from the magic bytes (whatever the name), the format from
 * `format`, else the name without `.gz` (`.csv`, `.tsv`, `.jsonl`, `.ndjson`, `.parquet`), else the
 * content (Parquet's magic bytes, a JSON object, or CSV).
 */
export function describeInput(file: string, format?: FileFormat): FileInput {
  if (!fs.existsSync(file)) throw validationError(`${file}: no such file`, [], "file_not_found");
  const head = firstBytes(file, 16);
  const gzip = head[0] === GZIP_MAGIC[0] && head[1] === GZIP_MAGIC[1];
  const bare = file.toLowerCase().endsWith(".gz") ? file.slice(0, -3) : file;
  const chosen = format ?? formatFromName(bare) ?? formatFromContent(gzip ? firstGunzippedBytes(file) : head);
  return {
    path: file,
    format: chosen,
    gzip,
    defaultDelimiter: path.extname(bare.toLowerCase()) === ".tsv" ? "\t" : ",",
  };
}

/** A gzip stream's failure as the user should read it: the file named, truncation said plainly. */
function gzipFailure(file: string, error: unknown): Error {
  const code = (error as { code?: string }).code;
  if (code === "Z_BUF_ERROR")
    return validationError(`${file}: gzip stream is truncated`, [], "truncated_gzip");
  if (typeof code === "string" && code.startsWith("Z_"))
    return validationError(
      `${file}: not a valid gzip stream: ${(error as Error).message}`,
      [],
      "malformed_gzip",
    );
  return error as Error;
}

/** The file's bytes, decompressed when it is gzip; a damaged gzip stream fails naming the file. */
export async function* openBytes(input: FileInput): AsyncGenerator<Buffer> {
  const raw = fs.createReadStream(input.path, { highWaterMark: 1 << 20 });
  if (!input.gzip) {
    try {
      for await (const chunk of raw) yield chunk as Buffer;
    } finally {
      raw.destroy();
    }
    return;
  }
  const gunzip = zlib.createGunzip({ chunkSize: 1 << 20 });
  raw.on("error", (error) => gunzip.destroy(error));
  try {
    for await (const chunk of raw.pipe(gunzip)) yield chunk as Buffer;
  } catch (error) {
    throw gzipFailure(input.path, error);
  } finally {
    raw.destroy();
    gunzip.destroy();
  }
}

/**
 * Reads a gzip file to its end, as DuckDB's reader does not: it takes a truncated stream for a
 * whole one. The error that stops it (`gzip stream is truncated`), or undefined when it is whole.
 */
export async function gzipDamage(input: FileInput): Promise<Error | undefined> {
  try {
    for await (const _ of openBytes(input));
    return undefined;
  } catch (error) {
    return error as Error;
  }
}

/** True when text decoded by `openText` held bytes that are not UTF-8 (they became lone surrogates). */
export function hasInvalidUtf8(text: string): boolean {
  return !text.isWellFormed();
}

/** How many leading bytes hold whole characters: a sequence cut by the chunk's end waits for the next. */
function completeLength(bytes: Buffer): number {
  for (let i = bytes.length - 1; i >= 0 && i >= bytes.length - 3; i--) {
    const byte = bytes[i] as number;
    if ((byte & 0xc0) === 0x80) continue;
    if (byte < 0xc0) return bytes.length;
    const length = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : 2;
    return i + length > bytes.length ? i : bytes.length;
  }
  return bytes.length;
}

/** The length of the valid UTF-8 sequence at `i`, or 0 when the byte there starts none. */
function sequenceLength(bytes: Buffer, i: number): number {
  const lead = bytes[i] as number;
  if (lead < 0x80) return 1;
  let more: number;
  let low = 0x80;
  let high = 0xbf;
  if (lead >= 0xc2 && lead <= 0xdf) more = 1;
  else if (lead >= 0xe0 && lead <= 0xef) {
    more = 2;
    if (lead === 0xe0) low = 0xa0;
    if (lead === 0xed) high = 0x9f;
  } else if (lead >= 0xf0 && lead <= 0xf4) {
    more = 3;
    if (lead === 0xf0) low = 0x90;
    if (lead === 0xf4) high = 0x8f;
  } else return 0;
  for (let k = 1; k <= more; k++) {
    const next = bytes[i + k];
    if (next === undefined || next < low || next > high) return 0;
    low = 0x80;
    high = 0xbf;
  }
  return more + 1;
}

/** Decodes bytes holding invalid UTF-8: each bad byte becomes a lone surrogate (U+DC00 + byte). */
function decodeMarkingInvalid(bytes: Buffer): string {
  let text = "";
  let start = 0;
  let i = 0;
  while (i < bytes.length) {
    const length = sequenceLength(bytes, i);
    if (length) {
      i += length;
      continue;
    }
    text += bytes.toString("utf8", start, i) + String.fromCharCode(0xdc00 + (bytes[i] as number));
    i++;
    start = i;
  }
  return text + bytes.toString("utf8", start, bytes.length);
}

/**
 * `openText`, whose damaged-gzip error says where the text stopped (`place`: `line 10000`, say).
 */
export async function* openTextNoting(input: FileInput, place: () => string): AsyncGenerator<string> {
  try {
    yield* openText(input);
  } catch (error) {
    if (!isHeraldError(error)) throw error;
    throw new HeraldError(error.kind, error.code, `${error.message} after ${place()}`, error.issues);
  }
}

/**
 * The file's text, decoded as UTF-8 in chunks; a leading byte-order mark is dropped. A byte that is
 * not UTF-8 becomes a lone surrogate, which valid UTF-8 never decodes to, so that the reader rejects
 * only the row holding it (`hasInvalidUtf8`) instead of storing U+FFFD in its place.
 */
export async function* openText(input: FileInput): AsyncGenerator<string> {
  let carry: Buffer | undefined;
  let first = true;
  const decode = (bytes: Buffer, whole: number) => {
    const part = bytes.subarray(0, whole);
    let text = isUtf8(part) ? part.toString("utf8") : decodeMarkingInvalid(part);
    if (first && text) {
      first = false;
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    }
    return text;
  };
  for await (const chunk of openBytes(input)) {
    const bytes = carry ? Buffer.concat([carry, chunk]) : chunk;
    const whole = completeLength(bytes);
    carry = whole < bytes.length ? Buffer.from(bytes.subarray(whole)) : undefined;
    const text = decode(bytes, whole);
    if (text) yield text;
  }
  if (carry) yield decode(carry, carry.length);
}
