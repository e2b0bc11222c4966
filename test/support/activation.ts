import { randomBytes } from "node:crypto";
import { gunzipSync } from "node:zlib";
import { parse } from "csv-parse/sync";
import { pino } from "pino";
import { migrateParts, wireParts } from "../../src/api/index.ts";
import { loadConfig } from "../../src/config/index.ts";
import { localKeyProvider } from "../../src/crypto/index.ts";
import { ingestProfileRecords } from "../../src/profiles/index.ts";
import { loadSchema } from "../../src/schema/index.ts";
import { createSegment, evaluateSegments } from "../../src/segments/index.ts";
import { DEFAULT_SANDBOX, type Engine, type Store } from "../../src/store/index.ts";
import { storeWithDefaultSchema } from "./herald-store.ts";
import { anyFolder } from "./local-roots.ts";

export const sandbox = DEFAULT_SANDBOX;

const cities = ["Paris", "Lyon", "Lille", "Nantes", "Nice"];

/**
 * Profile `i` of the activation fixture: even ones live in France (the segment), every 7th has no
 * last name (excluded as missing a mandatory attribute), and profiles 8k and 8k+2 share a phone (so a
 * deduplication on phone drops one of them). Names carry the export's hard cases: the delimiter,
 * quotes, a line break and non-ASCII letters.
 */
export function fixtureProfile(i: number) {
  const hard = ['Ann; "the first"', "Zoé\nsecond line", "O'Brien", "Łukasz"];
  return {
    crmId: `crm-${String(i).padStart(4, "0")}`,
    personalEmail: { address: `person${i}@example.com` },
    mobilePhone: { number: `+3360000${String(i % 8 === 2 ? i - 2 : i).padStart(4, "0")}` },
    person: {
      name: { firstName: hard[i % hard.length] ?? "x", ...(i % 7 === 0 ? {} : { lastName: `Last${i}` }) },
    },
    homeAddress: { city: cities[i % cities.length], countryCode: i % 2 === 0 ? "FR" : "DE" },
    loyalty: { points: i * 10 },
  };
}

export const FRENCH = "french";

/** The segment `dataflowFor` exports (a dataflow is refused a segment the sandbox lacks). */
export function createFrenchSegment(store: Store) {
  return createSegment(store, sandbox, {
    id: FRENCH,
    name: "French customers",
    definition: 'homeAddress.countryCode = "FR"',
  });
}

/** A store with the default schema, every part migrated and wired, `count` fixture profiles and the evaluated segment. */
export async function activationFixture(engine: Engine, count = 200) {
  const { store } = await storeWithDefaultSchema(engine);
  await migrateParts(store);
  const deps = {
    ...wireParts({
      config: loadConfig({ localRoots: anyFolder }, {}),
      store,
      logger: pino({ level: "silent" }),
      keys: localKeyProvider(randomBytes(32)),
    }),
    backoffMs: 10,
  };
  const schema = await loadSchema(store, sandbox);
  const report = await ingestProfileRecords(
    store,
    schema,
    Array.from({ length: count }, (_, i) => fixtureProfile(i)),
  );
  if (report.rejected) throw new Error(`fixture rejected: ${JSON.stringify(report.issues)}`);
  await createFrenchSegment(store);
  await evaluateSegments(store, sandbox, schema, [FRENCH]);
  return { store, deps, schema };
}

/** The audience as a hand-written SQL query sees it: French profiles with a last name, by email. */
export async function expectedRows(store: Store) {
  const rows = await store.query<{
    email: string;
    first_name: string;
    last_name: string;
    city: string;
    phone: string;
  }>(
    sandbox,
    `SELECT "personalEmail.address" AS email, "person.name.firstName" AS first_name,
            "person.name.lastName" AS last_name, "homeAddress.city" AS city, "mobilePhone.number" AS phone
       FROM {profiles} WHERE "homeAddress.countryCode" = 'FR' AND "person.name.lastName" IS NOT NULL
       ORDER BY _id`,
  );
  return rows;
}

/** Parses delivered CSV files (gzipped or not) into records keyed by their header. */
export function parseCsvFiles(files: Buffer[], delimiter: string, gzip: boolean): Record<string, string>[] {
  return files.flatMap(
    (file) =>
      parse(gzip ? gunzipSync(file) : file, {
        columns: true,
        delimiter,
        relax_column_count: false,
      }) as Record<string, string>[],
  );
}

/** A dataflow definition for the French segment; callers override the details and file options. */
export function dataflowFor(accountId: string, overrides: Record<string, unknown> = {}) {
  return {
    name: "French customers to the agency",
    accountId,
    marketingActions: ["email_targeting"],
    segments: [
      {
        segmentId: FRENCH,
        schedule: { frequency: "daily", time: "06:00", timezone: "Europe/Paris" },
        fileNameTemplate: "%SEGMENT_NAME%_%DATETIME(yyyyMMdd)%",
      },
    ],
    mapping: {
      columns: [
        { source: { kind: "identity", namespace: "email" }, target: "email" },
        { source: { kind: "attribute", path: "person.name.firstName" }, target: "first_name" },
        { source: { kind: "attribute", path: "person.name.lastName" }, target: "last_name", mandatory: true },
        { source: { kind: "attribute", path: "homeAddress.city" }, target: "city" },
        { source: { kind: "membership", field: "status" }, target: "status" },
      ],
    },
    status: "enabled",
    ...overrides,
  };
}
