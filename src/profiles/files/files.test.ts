import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import zlib from "node:zlib";
import { DuckDBInstance } from "@duckdb/node-api";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { storeWithDefaultSchema } from "../../../test/support/herald-store.ts";
import { engines } from "../../../test/support/stores.ts";
import { HeraldError } from "../../errors/index.ts";
import type { SchemaSnapshot } from "../../schema/index.ts";
import type { Store } from "../../store/index.ts";
import { lookupProfile } from "../lookup.ts";
import { ingestFile, MAX_REPORTED_ISSUES } from "./index.ts";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "herald-files-test-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
let fileCounter = 0;

function writeFile(name: string, content: string | Buffer): string {
  const file = path.join(dir, `${fileCounter++}-${name}`);
  fs.writeFileSync(file, content);
  return file;
}

async function writeParquet(name: string, selectSql: string): Promise<string> {
  const file = path.join(dir, `${fileCounter++}-${name}`);
  const instance = await DuckDBInstance.create(":memory:");
  const connection = await instance.connect();
  await connection.run(`COPY (${selectSql}) TO '${file}' (FORMAT parquet)`);
  connection.closeSync();
  instance.closeSync();
  return file;
}

/** Stored profiles as plain rows, by id, with the given columns. */
async function stored(store: Store, columns: string[]): Promise<Record<string, unknown>[]> {
  const list = ["_id", ...columns].map((c) => `"${c}"`).join(", ");
  return store.query("prod", `SELECT ${list} FROM {profiles} ORDER BY _id`);
}

describe.each(engines)("ingestFile on %s", (engine) => {
  let store: Store;
  let schema: SchemaSnapshot;
  afterEach(async () => store?.close());

  it("reads ';'-separated CSV with a BOM, CRLF, and quoted values holding delimiters, quotes and line breaks", async () => {
    ({ store, schema } = await storeWithDefaultSchema(engine));
    const file = writeFile(
      "semicolon.csv",
      "\ufeffpersonalEmail.address;person.name.firstName;homeAddress.city;loyalty.points;interests\r\n" +
        'ann@example.com;"Ann; the ""first""";"Saint-Denis\r\nÎle-de-France";1200;"[""jazz"",""running""]"\r\n' +
        "bo@example.com;Bo;Lyon;;\r\n",
    );
    const report = await ingestFile(store, schema, { path: file, kind: "profiles", delimiter: ";" });
    expect(report).toMatchObject({ received: 2, stored: 2, rejected: 0, issues: [], issueCount: 0 });
    expect(
      await stored(store, ["person.name.firstName", "homeAddress.city", "loyalty.points", "interests"]),
    ).toEqual([
      {
        _id: "ann@example.com",
        "person.name.firstName": 'Ann; the "first"',
        "homeAddress.city": "Saint-Denis\r\nÎle-de-France",
        "loyalty.points": 1200,
        interests: ["jazz", "running"],
      },
      {
        _id: "bo@example.com",
        "person.name.firstName": "Bo",
        "homeAddress.city": "Lyon",
        "loyalty.points": null,
        interests: null,
      },
    ]);
  });

  it.each([
    ["|", "pipe.csv"],
    ["\t", "tabs.tsv"],
  ])("reads CSV delimited by %j", async (delimiter, name) => {
    ({ store, schema } = await storeWithDefaultSchema(engine));
    const rows = [
      ["personalEmail.address", "person.birthDate", "signupDate", "person.gender"],
      ["ann@example.com", "1970-02-28", "2024-02-29T08:30:00+01:00", "female"],
      ["bo@example.com", "", "2024-03-01 10:00", '"a, b"'],
    ];
    const file = writeFile(name, `${rows.map((r) => r.join(delimiter)).join("\n")}\n`);
    // The .tsv name implies tabs; the pipe is given explicitly.
    const report = await ingestFile(store, schema, {
      path: file,
      kind: "profiles",
      ...(delimiter === "|" ? { delimiter } : {}),
    });
    expect(report).toMatchObject({ received: 2, stored: 2, rejected: 0 });
    expect(await stored(store, ["person.birthDate", "signupDate", "person.gender"])).toEqual([
      {
        _id: "ann@example.com",
        "person.birthDate": "1970-02-28",
        signupDate: new Date("2024-02-29T07:30:00Z"),
        "person.gender": "female",
      },
      {
        _id: "bo@example.com",
        "person.birthDate": null,
        signupDate: new Date("2024-03-01T10:00:00Z"),
        "person.gender": "a, b",
      },
    ]);
  });

  it("reads gzip-compressed CSV and JSON Lines, recognised by their bytes whatever the name", async () => {
    ({ store, schema } = await storeWithDefaultSchema(engine));
    const csv = writeFile(
      "profiles.csv.gz",
      zlib.gzipSync("personalEmail.address,loyalty.tier\nann@example.com,gold\n"),
    );
    const unnamed = writeFile(
      "export.bin",
      zlib.gzipSync("personalEmail.address,loyalty.tier\nbo@example.com,silver\n"),
    );
    const jsonl = writeFile(
      "profiles.jsonl.gz",
      zlib.gzipSync('{"personalEmail": {"address": "cy@example.com"}, "loyalty": {"tier": "bronze"}}\n'),
    );
    for (const file of [csv, unnamed, jsonl]) {
      expect(await ingestFile(store, schema, { path: file, kind: "profiles" })).toMatchObject({
        received: 1,
        stored: 1,
      });
    }
    expect(await stored(store, ["loyalty.tier"])).toEqual([
      { _id: "ann@example.com", "loyalty.tier": "gold" },
      { _id: "bo@example.com", "loyalty.tier": "silver" },
      { _id: "cy@example.com", "loyalty.tier": "bronze" },
    ]);
  });

  it("reads JSON Lines as the API's nested records; a line that is not JSON is reported by its line number", async () => {
    ({ store, schema } = await storeWithDefaultSchema(engine));
    const file = writeFile(
      "profiles.jsonl",
      [
        '{"personalEmail": {"address": "ann@example.com"}, "person": {"name": {"firstName": "Ann"}}, "interests": ["jazz"]}',
        "",
        '{"personalEmail": {"address": "bo@example.com"}, "loyalty": {"points": "many"}}',
        '{"personalEmail": ',
        '{"personalEmail": {"address": "cy@example.com"}, "loyalty": {"points": 7}}',
      ].join("\n"),
    );
    const report = await ingestFile(store, schema, { path: file, kind: "profiles" });
    expect(report).toMatchObject({ received: 4, stored: 2, rejected: 2, issueCount: 2 });
    expect(report.issues).toEqual([
      { row: 3, field: "loyalty.points", message: 'loyalty.points: expected an integer, got "many"' },
      { row: 4, message: expect.stringMatching(/^malformed JSON: /) },
    ]);
    expect(await stored(store, ["person.name.firstName", "loyalty.points", "interests"])).toEqual([
      { _id: "ann@example.com", "person.name.firstName": "Ann", "loyalty.points": null, interests: ["jazz"] },
      { _id: "cy@example.com", "person.name.firstName": null, "loyalty.points": 7, interests: null },
    ]);
  });

  it("reads Parquet (typed, nested and dotted columns), plain and gzip-compressed", async () => {
    ({ store, schema } = await storeWithDefaultSchema(engine));
    const select = (id: string) => `SELECT '${id}' AS "personalEmail.address",
        {'name': {'firstName': 'Ann', 'lastName': NULL}, 'birthDate': DATE '1970-02-28'} AS person,
        CAST(1200 AS BIGINT) AS "loyalty.points", ['jazz', 'running'] AS interests,
        TIMESTAMP '2024-02-29 08:30:00.123' AS "signupDate"`;
    const plain = await writeParquet("profiles.parquet", select("ann@example.com"));
    const gzipped = writeFile(
      "profiles.parquet.gz",
      zlib.gzipSync(fs.readFileSync(await writeParquet("p.parquet", select("bo@example.com")))),
    );
    for (const file of [plain, gzipped]) {
      expect(await ingestFile(store, schema, { path: file, kind: "profiles" })).toMatchObject({
        received: 1,
        stored: 1,
        rejected: 0,
      });
    }
    const expected = {
      "person.name.firstName": "Ann",
      "person.name.lastName": null,
      "person.birthDate": "1970-02-28",
      "loyalty.points": 1200,
      interests: ["jazz", "running"],
      signupDate: new Date("2024-02-29T08:30:00.123Z"),
    };
    expect(await stored(store, Object.keys(expected))).toEqual([
      { _id: "ann@example.com", ...expected },
      { _id: "bo@example.com", ...expected },
    ]);
  });

  it("stores the good 90% of a file with 10% bad rows and reports exactly the bad ones", async () => {
    ({ store, schema } = await storeWithDefaultSchema(engine));
    const lines = [
      "personalEmail.address,person.birthDate,loyalty.points,consents.marketing.email.val,signupDate",
    ];
    const expectedIssues: unknown[] = [];
    for (let row = 1; row <= 200; row++) {
      const email = `p${row}@example.com`;
      if (row % 10 !== 0) {
        lines.push(
          `${email},1980-01-${String((row % 28) + 1).padStart(2, "0")},${row},y,2025-01-01T00:00:00Z`,
        );
        continue;
      }
      switch ((row / 10) % 4) {
        case 1:
          lines.push(`${email},1980-02-30,${row},y,2025-01-01T00:00:00Z`);
          expectedIssues.push({
            row,
            field: "person.birthDate",
            message: 'person.birthDate: unparseable date "1980-02-30"',
          });
          break;
        case 2:
          lines.push(`${email},1980-01-01,${row}.5,y,yesterday`);
          expectedIssues.push(
            { row, field: "loyalty.points", message: `loyalty.points: expected an integer, got "${row}.5"` },
            { row, field: "signupDate", message: 'signupDate: unparseable timestamp "yesterday"' },
          );
          break;
        case 3:
          lines.push(`,1980-01-01,${row},y,2025-01-01T00:00:00Z`);
          expectedIssues.push({
            row,
            field: "personalEmail.address",
            message: "missing identity: the primary identity 'personalEmail.address' (email) is required",
          });
          break;
        default:
          lines.push(`${email},1980-01-01,${row}`);
          expectedIssues.push({ row, message: "malformed CSV: expected 5 columns, found 3" });
      }
    }
    const file = writeFile("ten-percent.csv", `${lines.join("\n")}\n`);
    const report = await ingestFile(store, schema, { path: file, kind: "profiles" });
    expect(report).toMatchObject({
      received: 200,
      stored: 180,
      rejected: 20,
      issueCount: expectedIssues.length,
    });
    expect(report.issues).toEqual(expectedIssues);
    const ids = (await stored(store, [])).map((r) => r._id);
    expect(ids).toHaveLength(180);
    expect(ids).not.toContain("p10@example.com");
    expect(ids).toContain("p11@example.com");
  });

  it("numbers rows past malformed ones, empty lines and multi-line values, and rejects unterminated quotes", async () => {
    ({ store, schema } = await storeWithDefaultSchema(engine));
    const file = writeFile(
      "malformed.csv",
      [
        "personalEmail.address,person.name.firstName,loyalty.points",
        "a@example.com,A,1", // row 1
        'b@example.com,"B\nmultiline",2', // row 2
        "c@example.com,C", // row 3: a column short
        "", // row 4: empty, skipped
        "d@example.com,D,x", // row 5: bad integer
        'e@example.com,"E"junk,5', // row 6: text after a closing quote
        "f@example.com,F,6,7", // row 7: a column too many
        "g@example.com,G,seven", // row 8: bad integer
        "h@example.com,H,8", // row 9
        'i@example.com,"never closed,9', // row 10: swallows the rest of the file
        "j@example.com,J,10",
      ].join("\n"),
    );
    const report = await ingestFile(store, schema, { path: file, kind: "profiles" });
    expect(report.issues.map((i) => [i.row, i.field ?? null])).toEqual([
      [3, null],
      [5, "loyalty.points"],
      [6, null],
      [7, null],
      [8, "loyalty.points"],
      [10, null],
    ]);
    expect(report.issues[0]?.message).toBe("malformed CSV: expected 3 columns, found 2");
    expect(report.issues[1]?.message).toBe('loyalty.points: expected an integer, got "x"');
    expect(report.issues[2]?.message).toMatch(/^malformed CSV: /);
    expect(report.issues[3]?.message).toMatch(/^malformed CSV: /);
    expect(report.issues[5]?.message).toMatch(/^malformed CSV: /);
    expect(report).toMatchObject({ received: 9, stored: 3, rejected: 6 });
    expect((await stored(store, ["person.name.firstName"])).map((r) => r["person.name.firstName"])).toEqual([
      "A",
      "B\nmultiline",
      "H",
    ]);
  });

  it("refuses a header with an unknown column, naming it with a suggestion, before storing anything", async () => {
    ({ store, schema } = await storeWithDefaultSchema(engine));
    const file = writeFile("typo.csv", "personalEmail.address,loyalty.pionts\nann@example.com,5\n");
    const error = await ingestFile(store, schema, { path: file, kind: "profiles" }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HeraldError);
    expect((error as HeraldError).kind).toBe("validation");
    expect((error as HeraldError).message).toMatch(
      /unknown column 'loyalty.pionts'.*did you mean 'loyalty.points'\?/,
    );
    const noIdentity = writeFile("no-id.csv", "person.name.firstName\nAnn\n");
    await expect(ingestFile(store, schema, { path: noIdentity, kind: "profiles" })).rejects.toThrow(
      /no 'personalEmail.address' column/,
    );
    expect(await stored(store, [])).toEqual([]);
  });

  it("upserts across files: absent cells keep, later values win, and a profile named twice in one file takes the last value given per field", async () => {
    ({ store, schema } = await storeWithDefaultSchema(engine));
    const first = writeFile(
      "first.csv",
      [
        "personalEmail.address,person.name.firstName,loyalty.tier,loyalty.points,homeAddress.city",
        "ann@example.com,Ann,silver,100,Paris",
        "bo@example.com,Bo,gold,200,Lyon",
        "ann@example.com,,gold,,", // same file: tier changes, the rest stays from the row above
      ].join("\n"),
    );
    expect(await ingestFile(store, schema, { path: first, kind: "profiles" })).toMatchObject({
      received: 3,
      stored: 3,
    });
    const second = writeFile(
      "second.csv",
      [
        "personalEmail.address,loyalty.points,homeAddress.city",
        "ann@example.com,150,", // city absent: kept
        "cy@example.com,5,Nice",
      ].join("\n"),
    );
    expect(await ingestFile(store, schema, { path: second, kind: "profiles" })).toMatchObject({ stored: 2 });
    expect(
      await stored(store, ["person.name.firstName", "loyalty.tier", "loyalty.points", "homeAddress.city"]),
    ).toEqual([
      {
        _id: "ann@example.com",
        "person.name.firstName": "Ann",
        "loyalty.tier": "gold",
        "loyalty.points": 150,
        "homeAddress.city": "Paris",
      },
      {
        _id: "bo@example.com",
        "person.name.firstName": "Bo",
        "loyalty.tier": "gold",
        "loyalty.points": 200,
        "homeAddress.city": "Lyon",
      },
      {
        _id: "cy@example.com",
        "person.name.firstName": null,
        "loyalty.tier": null,
        "loyalty.points": 5,
        "homeAddress.city": "Nice",
      },
    ]);
    const [ann] = await store.query<{ c: Date; u: Date }>(
      "prod",
      "SELECT _created_at AS c, _updated_at AS u FROM {profiles} WHERE _id = 'ann@example.com'",
    );
    expect(ann?.u.getTime()).toBeGreaterThanOrEqual(ann?.c.getTime() ?? Number.NaN);
  });

  it("a first load into an empty sandbox keeps a good row whose id a rejected row repeats, and merges ids named twice", async () => {
    ({ store, schema } = await storeWithDefaultSchema(engine));
    const header = "personalEmail.address,loyalty.points";
    const sharedWithRejected = writeFile(
      "shared.csv",
      [header, "a@x.com,1", "a@x.com,oops", "b@x.com,2"].join("\n"),
    );
    expect(await ingestFile(store, schema, { path: sharedWithRejected, kind: "profiles" })).toMatchObject({
      received: 3,
      stored: 2,
      rejected: 1,
      issues: [{ row: 2, field: "loyalty.points" }],
    });
    expect(await stored(store, ["loyalty.points"])).toEqual([
      { _id: "a@x.com", "loyalty.points": 1 },
      { _id: "b@x.com", "loyalty.points": 2 },
    ]);

    await store.close();
    ({ store, schema } = await storeWithDefaultSchema(engine));
    const namedTwice = writeFile("twice.csv", [header, "a@x.com,1", "b@x.com,x", "a@x.com,3"].join("\n"));
    expect(await ingestFile(store, schema, { path: namedTwice, kind: "profiles" })).toMatchObject({
      received: 3,
      stored: 2,
      rejected: 1,
      issues: [{ row: 2, field: "loyalty.points" }],
    });
    expect(await stored(store, ["loyalty.points"])).toEqual([{ _id: "a@x.com", "loyalty.points": 3 }]);
  });

  it("lists the first issues and counts them all", async () => {
    ({ store, schema } = await storeWithDefaultSchema(engine));
    const rows = Array.from(
      { length: MAX_REPORTED_ISSUES + 500 },
      (_, i) => `p${i}@example.com,not-a-number`,
    );
    const file = writeFile(
      "many-bad.csv",
      `personalEmail.address,loyalty.points\n${rows.join("\n")}\nok@example.com,1\n`,
    );
    const report = await ingestFile(store, schema, { path: file, kind: "profiles" });
    expect(report).toMatchObject({ received: 1501, stored: 1, rejected: 1500, issueCount: 1500 });
    expect(report.issues).toHaveLength(MAX_REPORTED_ISSUES);
    expect(report.issues.at(-1)?.row).toBe(MAX_REPORTED_ISSUES);
  });

  it("loads events: type, timestamp, the first identity given, typed properties; unknown identities and bad cells are reported", async () => {
    ({ store, schema } = await storeWithDefaultSchema(engine));
    const profiles = writeFile("p.csv", "personalEmail.address,crmId\nann@example.com,C-1\n");
    await ingestFile(store, schema, { path: profiles, kind: "profiles" });
    const events = writeFile(
      "events.csv",
      [
        "type,timestamp,identity.email,identity.crmId,priceTotal,quantity,properties.page",
        "commerce.purchases,2026-11-02T10:00:00Z,ann@example.com,,120.5,2,",
        "web.pageView,2026-11-01T09:00:00Z,,C-1,,,pricing",
        "web.pageView,2026-11-01T09:00:00Z,,C-404,,,home",
        "commerce.purchases,yesterday,ann@example.com,,1,1,",
        "commerce.purchases,2026-11-03T10:00:00Z,ann@example.com,,lots,1,",
        "web.pageView,2026-11-04T09:00:00Z,new@example.com,,,,home",
        "web.pageView,2026-11-04T09:00:00Z,,,,,home",
      ].join("\n"),
    );
    const report = await ingestFile(store, schema, { path: events, kind: "events" });
    expect(report).toMatchObject({ received: 7, stored: 3, rejected: 4 });
    expect(report.issues.map((i) => [i.row, i.field])).toEqual([
      [3, "identity.crmId"],
      [4, "timestamp"],
      [5, "properties.priceTotal"],
      [7, "identity"],
    ]);
    expect(report.issues[0]?.message).toBe("no profile has identity crmId:C-404");
    const ann = await lookupProfile(store, schema, { namespace: "email", value: "ann@example.com" });
    expect(ann.events.map((e) => [e.type, e.timestamp.toISOString(), e.properties])).toEqual([
      ["commerce.purchases", "2026-11-02T10:00:00.000Z", { priceTotal: 120.5, quantity: 2 }],
      ["web.pageView", "2026-11-01T09:00:00.000Z", { page: "pricing" }],
    ]);
    // An event keyed by an unknown primary identity creates that profile.
    const created = await lookupProfile(store, schema, { namespace: "email", value: "new@example.com" });
    expect(created.events).toHaveLength(1);
  });

  it("refuses an events header without type, timestamp or identity, and unknown property columns", async () => {
    ({ store, schema } = await storeWithDefaultSchema(engine));
    const missing = writeFile("ev1.csv", "type,identity.email\nweb.pageView,a@example.com\n");
    await expect(ingestFile(store, schema, { path: missing, kind: "events" })).rejects.toThrow(
      /lacks 'timestamp'/,
    );
    const typo = writeFile("ev2.csv", "type,timestamp,identity.email,priceTotl\n");
    await expect(ingestFile(store, schema, { path: typo, kind: "events" })).rejects.toThrow(
      /unknown column 'priceTotl'.*did you mean 'priceTotal'/,
    );
  });
});
