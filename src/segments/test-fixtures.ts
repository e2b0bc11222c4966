import { profileMigrations } from "../profiles/index.ts";
import {
  addField,
  defaultSchema,
  type Field,
  type FieldDefinitionInput,
  type FieldType,
  fieldDefinitionSchema,
  loadSchema,
  type SchemaSnapshot,
} from "../schema/index.ts";
import { createSandbox, migrate, type Store } from "../store/index.ts";

/** Fields added to the default schema in segment tests, to cover every type. */
export const extraTestFields: FieldDefinitionInput[] = [
  { path: "loyalty.member", type: "boolean" },
  { path: "loyalty.score", type: "number" },
  { path: "lastSeen", type: "timestamp" },
  { entity: "event", path: "shippedAt", type: "timestamp" },
  { entity: "event", path: "gift", type: "boolean" },
];

/** A SchemaSnapshot built from field definitions, as `loadSchema` would return it. */
export function snapshotOf(definitions: FieldDefinitionInput[], sandbox = "test"): SchemaSnapshot {
  const fields: Field[] = definitions.map((d) => {
    const f = fieldDefinitionSchema.parse(d);
    return { ...f, labels: f.labels } as Field;
  });
  const primaryIdentity = fields.find((f) => f.primary);
  if (!primaryIdentity) throw new Error("test schema needs a primary identity");
  return {
    sandbox,
    profileFields: new Map(fields.filter((f) => f.entity === "profile").map((f) => [f.path, f])),
    eventFields: new Map(fields.filter((f) => f.entity === "event").map((f) => [f.path, f])),
    primaryIdentity,
    identities: new Map(fields.filter((f) => f.namespace).map((f) => [f.namespace as string, f])),
  };
}

export const testFields: FieldDefinitionInput[] = [...defaultSchema, ...extraTestFields];
export const testSchema: SchemaSnapshot = snapshotOf(testFields);

/** Scenario data shared by the evaluator and SQL tests: the same table runs on every engine. */
export const scenarioNow = new Date("2026-03-15T12:00:00Z");

export const scenarioProfiles: Record<string, unknown>[] = [
  {
    _id: "alice",
    "homeAddress.city": "Paris",
    "person.name.lastName": "Smith",
    "person.birthDate": "1970-03-20",
    "loyalty.points": 120,
    "loyalty.tier": "gold",
    interests: ["golf", "wine"],
    "personalEmail.address": "alice@example.com",
    "mobilePhone.number": "+33612345678",
    signupDate: new Date("2026-03-01T10:00:00Z"),
    "loyalty.member": true,
    "loyalty.score": 9.5,
  },
  {
    _id: "bob",
    "person.name.lastName": "SMITH",
    "person.birthDate": "2000-02-29",
    "loyalty.points": 5,
    "loyalty.tier": "silver",
    "personalEmail.address": "bob@test.org",
    "mobilePhone.number": "0612",
    signupDate: new Date("2025-12-31T23:30:00Z"),
    "loyalty.member": false,
  },
  {
    _id: "carol",
    "homeAddress.city": "Lyon",
    "person.name.lastName": "Jones",
    interests: [],
    "personalEmail.address": "carol@example.com",
  },
  {
    _id: "dave",
    "homeAddress.city": "",
    "person.birthDate": "1976-03-15",
    "loyalty.points": 100,
    "loyalty.tier": "GOLD",
    "personalEmail.address": "dave@Example.com",
    signupDate: new Date("2026-03-15T11:00:00Z"),
  },
];

export interface ScenarioEvent {
  id: string;
  profileId: string;
  type: string;
  ts: Date;
  properties: Record<string, unknown>;
}

const purchase = (
  id: string,
  profileId: string,
  ts: string,
  priceTotal: number,
  currency: string,
): ScenarioEvent => ({
  id,
  profileId,
  type: "commerce.purchases",
  ts: new Date(ts),
  properties: { priceTotal, currency },
});
const view = (id: string, profileId: string, ts: string, page: string): ScenarioEvent => ({
  id,
  profileId,
  type: "web.pageView",
  ts: new Date(ts),
  properties: { page },
});

export const scenarioEvents: ScenarioEvent[] = [
  purchase("e01", "alice", "2026-03-10T09:00:00Z", 150, "EUR"),
  purchase("e02", "alice", "2026-02-20T09:00:00Z", 200, "EUR"),
  purchase("e03", "alice", "2025-12-01T09:00:00Z", 50, "USD"),
  view("e04", "alice", "2026-03-12T09:00:00Z", "pricing"),
  view("e05", "bob", "2026-03-14T00:00:00Z", "pricing"),
  purchase("e06", "bob", "2026-03-14T10:00:00Z", 80, "USD"),
  view("e07", "bob", "2026-03-13T00:00:00Z", "home"),
  view("e08", "carol", "2026-03-01T00:00:00Z", "pricing"),
];

/** Segments the scenarios refer to with inSegment(...). */
export const scenarioSegments: Record<string, string> = {
  parisians: 'homeAddress.city = "Paris"',
  loop_a: 'inSegment("loop_b")',
  loop_b: 'inSegment("loop_a")',
};

export const scenarioCases: [definition: string, members: string[]][] = [
  ['homeAddress.city = "Paris"', ["alice"]],
  ['homeAddress.city != "Paris"', ["carol", "dave"]],
  ['not homeAddress.city = "Paris"', ["bob", "carol", "dave"]],
  ['homeAddress.city = ""', ["dave"]],
  ['person.name.lastName = "smith" ignoring case', ["alice", "bob"]],
  ['person.name.lastName = "smith"', []],
  ['loyalty.tier in ["gold", "silver"]', ["alice", "bob"]],
  ['loyalty.tier in ["gold"] ignoring case', ["alice", "dave"]],
  ['loyalty.tier not in ["gold"]', ["bob", "dave"]],
  ['not loyalty.tier in ["gold"]', ["bob", "carol", "dave"]],
  ['personalEmail.address endsWith "@example.com"', ["alice", "carol"]],
  ['personalEmail.address endsWith "@EXAMPLE.com" ignoring case', ["alice", "carol", "dave"]],
  ['personalEmail.address contains "_"', []],
  ['personalEmail.address startsWith "b"', ["bob"]],
  ['interests contains "golf"', ["alice"]],
  ['not interests contains "golf"', ["bob", "carol", "dave"]],
  ["interests exists", ["alice", "carol"]],
  ["homeAddress.city exists", ["alice", "carol", "dave"]],
  ["homeAddress.city is null", ["bob"]],
  ['mobilePhone.number matches "^\\\\+33"', ["alice"]],
  ['person.name.lastName matches "^sm" ignoring case', ["alice", "bob"]],
  ["loyalty.points between 100 and 120", ["alice", "dave"]],
  ["loyalty.points < 100", ["bob"]],
  ["loyalty.member = false", ["bob"]],
  ["loyalty.score >= 9.5", ["alice"]],
  ["age(person.birthDate) > 50", ["alice"]],
  ["age(person.birthDate) >= 50", ["alice", "dave"]],
  ["age(person.birthDate) = 26", ["bob"]],
  ["birthday(person.birthDate) within next 7 days", ["alice", "dave"]],
  ["birthday(person.birthDate) within next 0 days", ["dave"]],
  ["person.birthDate before 1980-01-01", ["alice", "dave"]],
  ["person.birthDate within last 1 weeks", []],
  ["signupDate within last 30 days", ["alice", "dave"]],
  ["signupDate within this year", ["alice", "dave"]],
  ['timezone "Europe/Paris"\nsignupDate within this year', ["alice", "bob", "dave"]],
  ["signupDate within today", ["dave"]],
  // A date against a timestamp means the whole local day.
  ["signupDate > 2026-03-01", ["dave"]],
  ["signupDate = 2026-03-01", ["alice"]],
  ["signupDate != 2026-03-01", ["bob", "dave"]],
  ["signupDate <= 2026-03-01", ["alice", "bob"]],
  ["signupDate between 2026-03-01 and 2026-03-14", ["alice"]],
  ["signupDate between 2026-03-01 and 2026-03-15T11:00:00Z", ["alice", "dave"]],
  ["signupDate in [2026-03-15, 2025-12-31]", ["bob", "dave"]],
  ['timezone "Asia/Tokyo"\nsignupDate = 2026-01-01', ["bob"]],
  ["signupDate before 2026-01-01", ["bob"]],
  ["signupDate after 2026-03-01", ["dave"]],
  ["count(commerce.purchases where priceTotal > 100 within last 30 days) >= 2", ["alice"]],
  ["count(commerce.purchases) = 0", ["carol", "dave"]],
  ["count(commerce.purchases within last month) = 1", ["alice"]],
  ["sum(commerce.purchases.priceTotal) > 300", ["alice"]],
  ["sum(commerce.purchases.priceTotal within last 7 days) < 100", ["bob", "carol", "dave"]],
  ["avg(commerce.purchases.priceTotal) < 100", ["bob"]],
  ["not avg(commerce.purchases.priceTotal) < 100", ["alice", "carol", "dave"]],
  ["min(commerce.purchases.priceTotal) = 50", ["alice"]],
  ['max(commerce.purchases.priceTotal where currency = "EUR") = 200', ["alice"]],
  ['latest(commerce.purchases.currency) = "EUR"', ["alice"]],
  ['latest(commerce.purchases.currency) != "EUR"', ["bob"]],
  ['exists(web.pageView where page = "pricing" within last 7 days)', ["alice", "bob"]],
  ["not exists(web.pageView)", ["dave"]],
  ['exists(web.pageView where not page = "pricing")', ["bob"]],
  ['sequence(web.pageView where page = "pricing" then commerce.purchases within 7 days)', ["bob"]],
  [
    'sequence(web.pageView where page = "pricing" then not commerce.purchases within 7 days)',
    ["alice", "carol"],
  ],
  [
    'sequence(web.pageView where page = "home" then web.pageView where page = "pricing" then commerce.purchases)',
    ["bob"],
  ],
  ["sequence(commerce.purchases then commerce.purchases within 30 days)", ["alice"]],
  ['inSegment("parisians") or loyalty.points < 10', ["alice", "bob"]],
  ['not inSegment("parisians")', ["bob", "carol", "dave"]],
  ['(homeAddress.city = "Paris" or homeAddress.city = "Lyon") and not exists(commerce.purchases)', ["carol"]],
];

/** Inserts profiles and events with one statement each (typed through the dialect's text arrays). */
export async function insertScenario(
  store: Store,
  sandbox: string,
  schema: SchemaSnapshot,
  profiles: readonly Record<string, unknown>[],
  events: readonly ScenarioEvent[],
): Promise<void> {
  const toText = (value: unknown, type: FieldType): string | null => {
    if (value === null || value === undefined) return null;
    if (type === "string[]") return store.dialect.arrayText(value as string[]);
    if (value instanceof Date) return value.toISOString();
    return String(value);
  };
  const insert = async (table: string, columns: { name: string; kind: FieldType }[], rows: unknown[][]) => {
    if (!rows.length) return;
    const names = columns.map((c) => store.dialect.ident(c.name)).join(", ");
    const params = columns.map((c, i) => rows.map((row) => toText(row[i], c.kind)));
    await store.query(
      sandbox,
      `INSERT INTO ${table} (${names}) ${store.dialect.unnestColumns(columns, 1)}`,
      params,
    );
  };
  const profileFields = [...schema.profileFields.values()];
  const now = new Date();
  await insert(
    "{profiles}",
    [
      { name: "_id", kind: "string" },
      { name: "_created_at", kind: "timestamp" },
      { name: "_updated_at", kind: "timestamp" },
      ...profileFields.map((f) => ({ name: f.path, kind: f.type })),
    ],
    profiles.map((p) => [p._id, now, now, ...profileFields.map((f) => p[f.path])]),
  );
  const eventFields = [...schema.eventFields.values()];
  await insert(
    "{events}",
    [
      { name: "_id", kind: "string" },
      { name: "_profile_id", kind: "string" },
      { name: "_type", kind: "string" },
      { name: "_ts", kind: "timestamp" },
      { name: "_ingested_at", kind: "timestamp" },
      ...eventFields.map((f) => ({ name: f.path, kind: f.type })),
    ],
    events.map((e) => [
      e.id,
      e.profileId,
      e.type,
      e.ts,
      now,
      ...eventFields.map((f) => e.properties[f.path]),
    ]),
  );
}

/**
 * A store with the test schema installed in `sandbox` (the registry adds the typed columns), and
 * the profiles part's tables (saving a segment reads the event types stored).
 */
export async function prepareSandbox(store: Store, sandbox = "test"): Promise<SchemaSnapshot> {
  await store.transaction((tx) => migrate(tx, store.engine));
  await store.transaction((tx) => migrate(tx, store.engine, "profiles", profileMigrations));
  await createSandbox(store, sandbox);
  for (const field of testFields) await addField(store, sandbox, field);
  return loadSchema(store, sandbox);
}
