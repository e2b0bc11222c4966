import fs from "node:fs";
import path from "node:path";
import type { Readable } from "node:stream";
import zlib from "node:zlib";
import { validationError } from "../../errors/index.ts";

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

/** The file's bytes, decompressed when it is gzip. */
export function openBytes(input: FileInput): Readable {
  const raw = fs.createReadStream(input.path, { highWaterMark: 1 << 20 });
  if (!input.gzip) return raw;
  const gunzip = zlib.createGunzip({ chunkSize: 1 << 20 });
  raw.on("error", (error) => gunzip.destroy(error));
  return raw.pipe(gunzip);
}

/** The file's text, decoded as UTF-8 in chunks; a leading byte-order mark is dropped. */
export async function* openText(input: FileInput): AsyncGenerator<string> {
  const decoder = new TextDecoder("utf-8");
  for await (const chunk of openBytes(input)) {
    const text = decoder.decode(chunk as Buffer, { stream: true });
    if (text) yield text;
  }
  const rest = decoder.decode();
  if (rest) yield rest;
}
