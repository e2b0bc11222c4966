import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { DuckDBInstance } from "@duckdb/node-api";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { storeWithDefaultSchema } from "../../../test/support/herald-store.ts";
import { engines } from "../../../test/support/stores.ts";
import type { SchemaSnapshot } from "../../schema/index.ts";
import type { Store } from "../../store/index.ts";
import { ingestFile } from "./index.ts";

// Files whose bytes are damaged: not UTF-8, or a gzip stream cut short. Each bad row is rejected by
// its number and the others stored; a cut stream never stores rows without saying so.

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "herald-damaged-test-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
let fileCounter = 0;

function writeFile(name: string, content: string | Buffer): string {
  const file = path.join(dir, `${fileCounter++}-${name}`);
  fs.writeFileSync(file, content);
  return file;
}

/** Latin-1 bytes inside otherwise UTF-8 text: `é` as the single byte 0xE9. */
const latin1 = (text: string) =>
  Buffer.from(Buffer.from(text.replace("é", "\u0000"), "utf8").map((b) => (b === 0 ? 0xe9 : b)));

/** The error a load fails with (undefined when it succeeds). */
const failureOf = (load: Promise<unknown>) =>
  load.then(
    () => undefined,
    (error: Error) => error,
  );

/** A gzip stream of `text` without its last quarter. */
const truncatedGzip = (text: string | Buffer) => {
  const whole = zlib.gzipSync(text);
  return whole.subarray(0, Math.floor(whole.length * 0.75));
};

async function profileNames(store: Store): Promise<Record<string, unknown>[]> {
  return store.query("prod", 'SELECT _id, "person.name.firstName" FROM {profiles} ORDER BY _id');
}

async function countOf(store: Store, table: "profiles" | "events"): Promise<number> {
  const [row] = await store.query<{ n: number }>("prod", `SELECT count(*) AS n FROM {${table}}`);
  return Number(row?.n);
}

const PROFILES_CSV = latin1(
  "personalEmail.address,person.name.firstName,loyalty.points\n" +
    "m1@example.com,Ann,1\nm2@example.com,René,2\nm3@example.com,Zoë,3\nm4@example.com,Dan,oops\n",
);

describe.each(engines)("damaged files on %s", (engine) => {
  let store: Store;
  let schema: SchemaSnapshot;
  afterEach(async () => store?.close());

  it.each([
    ["an empty sandbox", false],
    ["a sandbox with profiles", true],
  ])("rejects a CSV row whose string cell is not UTF-8, by its number, into %s", async (_, seeded) => {
    ({ store, schema } = await storeWithDefaultSchema(engine));
    if (seeded) {
      const seed = writeFile("seed.csv", "personalEmail.address,person.name.firstName\nm0@example.com,Eve\n");
      await ingestFile(store, schema, { path: seed, kind: "profiles" });
    }
    const file = writeFile("latin1.csv", PROFILES_CSV);
    const report = await ingestFile(store, schema, { path: file, kind: "profiles" });
    expect(report).toMatchObject({ received: 4, stored: 2, rejected: 2, issueCount: 2 });
    expect(report.issues).toEqual([
      { row: 2, message: "not UTF-8" },
      { row: 4, field: "loyalty.points", message: expect.stringMatching(/^loyalty\.points: /) },
    ]);
    expect(await profileNames(store)).toEqual([
      ...(seeded ? [{ _id: "m0@example.com", "person.name.firstName": "Eve" }] : []),
      { _id: "m1@example.com", "person.name.firstName": "Ann" },
      { _id: "m3@example.com", "person.name.firstName": "Zoë" },
    ]);
  });

  const jsonLine = (email: string, name: string) =>
    JSON.stringify({ personalEmail: { address: email }, person: { name: { firstName: name } } });
  it.each([
    [
      "an events CSV row",
      "events.csv",
      "events",
      "type,timestamp,identity.email,properties.page\n" +
        "web.pageView,2026-11-01T09:00:00Z,ann@example.com,home\n" +
        "web.pageView,2026-11-01T09:00:00Z,ann@example.com,café\n",
      { received: 2, stored: 1, row: 2 },
    ],
    [
      "a JSON Lines line (instead of storing U+FFFD)",
      "latin1.jsonl",
      "profiles",
      `${jsonLine("m1@example.com", "Ann")}\n\n${jsonLine("m2@example.com", "René")}\n${jsonLine("m3@example.com", "Zoë")}\n`,
      { received: 3, stored: 2, row: 3 },
    ],
  ] as const)(
    "rejects %s that is not UTF-8 by its number, with the same words",
    async (_, name, kind, text, expected) => {
      ({ store, schema } = await storeWithDefaultSchema(engine));
      const file = writeFile(name, latin1(text));
      const report = await ingestFile(store, schema, { path: file, kind });
      expect(report).toMatchObject({
        received: expected.received,
        stored: expected.stored,
        rejected: 1,
        issues: [{ row: expected.row, message: "not UTF-8" }],
      });
      expect(await countOf(store, kind)).toBe(expected.stored);
    },
  );

  it("refuses a CSV header that is not UTF-8 before storing anything", async () => {
    ({ store, schema } = await storeWithDefaultSchema(engine));
    const file = writeFile("header.csv", latin1("personalEmail.address,prénom\nm1@example.com,Ann\n"));
    await expect(ingestFile(store, schema, { path: file, kind: "profiles" })).rejects.toThrow(
      `${file}: the header is not UTF-8`,
    );
    expect(await countOf(store, "profiles")).toBe(0);
  });

  it.each([
    ["profiles.csv.gz", "profiles"],
    ["events.csv.gz", "events"],
  ] as const)(
    "refuses or reports a truncated %s, naming the file, and stores only what it says",
    async (name, kind) => {
      ({ store, schema } = await storeWithDefaultSchema(engine));
      const rows = Array.from({ length: 3000 }, (_, i) =>
        kind === "profiles"
          ? `p${i}@example.com,Name ${i}`
          : `web.pageView,2026-11-01T09:00:00Z,p${i}@example.com`,
      );
      const header =
        kind === "profiles" ? "personalEmail.address,person.name.firstName" : "type,timestamp,identity.email";
      const file = writeFile(name, truncatedGzip(`${header}\n${rows.join("\n")}\n`));
      const error = await failureOf(ingestFile(store, schema, { path: file, kind }));
      expect(error?.message).toMatch(new RegExp(`^${file}: gzip stream is truncated`));
      const table = kind === "profiles" ? "profiles" : "events";
      if (engine === "duckdb") {
        // DuckDB's reader would take the cut stream for a whole file: the load is refused before writing.
        expect(error?.message).toBe(`${file}: gzip stream is truncated: nothing was stored`);
        expect(await countOf(store, table)).toBe(0);
      } else {
        const said =
          /after row (\d+): the rows before it were read \((\d+) received, (\d+) stored, 0 rejected\)/.exec(
            error?.message ?? "",
          );
        expect(said).not.toBeNull();
        const [, lastRow, received, stored] = said?.map(Number) ?? [];
        expect(lastRow).toBeGreaterThan(0);
        expect(lastRow).toBeLessThan(3000);
        expect(received).toBe(lastRow);
        expect(await countOf(store, table)).toBe(stored);
        expect(stored).toBe(lastRow);
      }
    },
  );

  it("refuses a truncated .parquet.gz, naming the file, before storing anything", async () => {
    ({ store, schema } = await storeWithDefaultSchema(engine));
    const plain = path.join(dir, `${fileCounter++}-whole.parquet`);
    const instance = await DuckDBInstance.create(":memory:");
    const connection = await instance.connect();
    await connection.run(
      `COPY (SELECT 'p' || i || '@example.com' AS "personalEmail.address" FROM range(3000) t(i)) TO '${plain}' (FORMAT parquet)`,
    );
    connection.closeSync();
    instance.closeSync();
    const file = writeFile("profiles.parquet.gz", truncatedGzip(fs.readFileSync(plain)));
    await expect(ingestFile(store, schema, { path: file, kind: "profiles" })).rejects.toThrow(
      `${file}: gzip stream is truncated`,
    );
    expect(await countOf(store, "profiles")).toBe(0);
  });

  it("names the file and the last line of a truncated .jsonl.gz, with the rows it stored", async () => {
    ({ store, schema } = await storeWithDefaultSchema(engine));
    const lines = Array.from({ length: 3000 }, (_, i) =>
      JSON.stringify({ personalEmail: { address: `p${i}@example.com` } }),
    );
    const file = writeFile("profiles.jsonl.gz", truncatedGzip(`${lines.join("\n")}\n`));
    const error = await failureOf(ingestFile(store, schema, { path: file, kind: "profiles" }));
    const said = new RegExp(
      `^${file}: gzip stream is truncated after line (\\d+): the rows before it were read \\((\\d+) received, (\\d+) stored, 0 rejected\\); the rest of the file was not$`,
    ).exec(error?.message ?? "");
    expect(said).not.toBeNull();
    const [, line, received, stored] = said?.map(Number) ?? [];
    expect(line).toBeGreaterThan(0);
    expect(received).toBe(line);
    expect(stored).toBe(line);
    expect(await countOf(store, "profiles")).toBe(stored);
  });
});
