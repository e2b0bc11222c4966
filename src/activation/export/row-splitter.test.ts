import { gunzipSync } from "node:zlib";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { gzipInParallel } from "./parallel-gzip.ts";
import { countNewlines, RowSplitter } from "./row-splitter.ts";

async function* chunked(text: string, size: number): AsyncGenerator<Buffer> {
  const bytes = Buffer.from(text);
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

async function collect(source: AsyncIterable<Buffer>): Promise<string> {
  const parts: Buffer[] = [];
  for await (const part of source) parts.push(part);
  return Buffer.concat(parts).toString();
}

async function split(
  text: string,
  chunkSize: number,
  maxRows: number,
  quote = '"',
  escapeChar = '"',
  header = true,
) {
  const splitter = new RowSplitter(chunked(text, chunkSize), { maxRows, header, quote, escape: escapeChar });
  const files: string[] = [];
  let rows = 0;
  while (await splitter.hasMore()) files.push(await collect(splitter.nextFile((n) => (rows += n))));
  return { files, rows };
}

describe("RowSplitter", () => {
  const csv = 'id;name\n1;"a\nb"\n2;"x ""q"" ;\n"\n3;c\n4;d\n5;e\n';

  it("cuts exactly every maxRows records, never inside a quoted field, repeating the header", async () => {
    for (const chunkSize of [1, 3, 7, 1000]) {
      const { files, rows } = await split(csv, chunkSize, 2);
      expect(files).toEqual([
        'id;name\n1;"a\nb"\n2;"x ""q"" ;\n"\n',
        "id;name\n3;c\n4;d\n",
        "id;name\n5;e\n",
      ]);
      expect(rows).toBe(5);
    }
  });

  it("honours a backslash escape before a quote", async () => {
    const text = 'a\n"x\\"\ny"\nz\n';
    const { files } = await split(text, 2, 1, '"', "\\");
    expect(files).toEqual(['a\n"x\\"\ny"\n', "a\nz\n"]);
  });

  it("keeps every byte across random cut points (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.integer(), fc.string()), { maxLength: 30 }),
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 1, max: 7 }),
        async (records, chunkSize, maxRows) => {
          const body = records.map(([n, s]) => `${n};"${s.replaceAll('"', '""')}"\n`).join("");
          const { files, rows } = await split(`h\n${body}`, chunkSize, maxRows);
          expect(rows).toBe(records.length);
          expect(files.map((f) => f.slice(2)).join("")).toBe(body);
          // An empty audience still gets one file holding just the header.
          expect(files.length).toBe(Math.max(1, Math.ceil(records.length / maxRows)));
        },
      ),
      { numRuns: 300 },
    );
  });

  it("keeps every byte with backslash escapes across random cut points (property)", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.tuple(fc.integer(), fc.string({ unit: fc.constantFrom("a", '"', "\\", "\n", ";") })), {
          maxLength: 30,
        }),
        fc.integer({ min: 1, max: 50 }),
        fc.integer({ min: 1, max: 7 }),
        async (records, chunkSize, maxRows) => {
          const escaped = (s: string) => s.replaceAll("\\", "\\\\").replaceAll('"', '\\"');
          const body = records.map(([n, s]) => `${n};"${escaped(s)}";x\n`).join("");
          const { files, rows } = await split(`h\n${body}`, chunkSize, maxRows, '"', "\\");
          expect(rows).toBe(records.length);
          expect(files.map((f) => f.slice(2)).join("")).toBe(body);
          expect(files.length).toBe(Math.max(1, Math.ceil(records.length / maxRows)));
        },
      ),
      { numRuns: 300 },
    );
  });
});

describe("countNewlines", () => {
  it("counts exactly what a byte loop counts, at any offset and length (property)", () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 200 }),
        fc.nat(8),
        fc.nat(200),
        fc.nat(200),
        (bytes, shift, a, b) => {
          // Newlines, their neighbours and high bytes, where word tricks carry or sign-extend.
          const alphabet = [0x0a, 0x0b, 0x09, 0x00, 0x8a, 0xff, 0x7f, 0x41];
          const chunk = Buffer.from(Uint8Array.from(bytes, (x) => alphabet[x % 8] as number)).subarray(0);
          const shifted = Buffer.concat([Buffer.alloc(shift), chunk]).subarray(shift);
          const start = Math.min(a, b, shifted.length);
          const end = Math.min(Math.max(a, b), shifted.length);
          let expected = 0;
          for (let i = start; i < end; i++) if (shifted[i] === 0x0a) expected++;
          expect(countNewlines(shifted, start, end)).toBe(expected);
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("splits large chunks at the exact record", async () => {
    const records = Array.from({ length: 10_000 }, (_, i) => (i % 997 ? `${i};x\n` : `${i};"a\nb"\n`));
    const { files, rows } = await split(`h\n${records.join("")}`, 1 << 16, 3_333);
    expect(rows).toBe(10_000);
    expect(files).toEqual(
      [0, 3_333, 6_666, 9_999].map((first) => `h\n${records.slice(first, first + 3_333).join("")}`),
    );
  });
});

describe("gzipInParallel", () => {
  it("produces one gzip stream that inflates to the input, in order", async () => {
    const text = Array.from({ length: 50_000 }, (_, i) => `${i};row ${i}\n`).join("");
    const members: Buffer[] = [];
    for await (const part of gzipInParallel(chunked(text, 1000), { blockBytes: 16_384, concurrency: 3 }))
      members.push(part);
    expect(members.length).toBeGreaterThan(10);
    expect(gunzipSync(Buffer.concat(members)).toString()).toBe(text);
  });
});
