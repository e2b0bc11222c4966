import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freshStore } from "../../test/support/stores.ts";
import type { SchemaSnapshot } from "../schema/index.ts";
import type { Store } from "../store/index.ts";
import type { Condition, Duration, EventSelector, Literal, SegmentAst, TimePoint, Window } from "./ast.ts";
import { compileSegmentsToSql, compileSegmentToSql } from "./compile-sql/index.ts";
import { compileEvaluator } from "./evaluate.ts";
import { parseSegment } from "./parse.ts";
import { printSegment } from "./print.ts";
import { insertScenario, prepareSandbox, type ScenarioEvent } from "./test-fixtures.ts";
import { addDays, localDate, startOfDay } from "./time.ts";
import { betweenMatchesNothing, typecheckSegment } from "./typecheck.ts";

/**
 * The batch path (SQL on DuckDB and on PostgreSQL) and the streaming path (the evaluator) must
 * select the same audience for any segment over any data. Data come from small domains full of
 * edges: missing values, empty strings, case variants, LIKE metacharacters, leap days, instants on
 * window boundaries and on local midnights of several zones, events at the same instant.
 */

const DAY = 86_400_000;
const NOWS = [
  "2026-03-15T12:00:00.000Z",
  "2028-02-29T23:30:00.000Z",
  "2026-03-29T00:30:00.000Z", // Europe's spring-forward day
  "2026-12-31T23:00:00.000Z",
  "2027-03-01T00:00:00.000Z",
];
const ZONES = ["UTC", "Europe/Paris", "America/New_York", "Asia/Kolkata", "Pacific/Kiritimati"];

interface Domain {
  now: number;
  instants: number[];
  dates: string[];
}

function domainAt(nowText: string): Domain {
  const now = Date.parse(nowText);
  const offsets = [
    0,
    -1,
    1,
    -3_600_000,
    -DAY,
    -DAY + 1,
    -7 * DAY,
    -7 * DAY - 1,
    -30 * DAY,
    -30 * DAY + 1,
    -40 * DAY,
    -400 * DAY,
    2 * DAY,
  ];
  const instants = new Set(offsets.map((o) => now + o));
  for (const zone of ZONES) {
    const today = localDate(now, zone);
    for (const day of [today, addDays(today, 1), `${today.slice(0, 8)}01`, `${today.slice(0, 5)}01-01`]) {
      const start = startOfDay(day, zone);
      instants.add(start);
      instants.add(start - 1);
    }
  }
  const today = localDate(now, "UTC");
  const dates = new Set(
    [0, 1, -1, 7, 8, -7, -8, 30, -30]
      .map((d) => addDays(today, d))
      .concat(["2000-02-29", "1996-02-29", "1970-01-01", "1999-12-31"]),
  );
  for (const d of [0, 3, 7, 8]) dates.add(`1980-${addDays(today, d).slice(5)}`);
  dates.delete("1980-02-29");
  return { now, instants: [...instants].sort((a, b) => a - b), dates: [...dates].sort() };
}

const STRINGS = ["", "Paris", "paris", "PARIS", "Lyon", "a_b", "50%", "x\\y", "Émile", "émile", "is"];
const STRING_NEEDLES = ["", "a", "P", "%", "_", "\\", "é", "is", "ar"];
const PATTERNS = ["^P", "is$", "a.b", "[0-9]", "^$", "É"];
const INTEGERS = [0, 1, 5, 100, -3];
const NUMBERS = [0, 2.5, 9.75, -1.25, 100];
const AGES = [-1, 0, 25, 25.5, 26, 27, 46, 50, 56];
const AGG_VALUES = [0, 1, 2, 50, 100, 100.5, 150];
const TYPES = ["commerce.purchases", "web.pageView", "app.open"];
const DURATIONS: Duration[] = [
  { amount: 90, unit: "minutes" },
  { amount: 1, unit: "hours" },
  { amount: 1, unit: "days" },
  { amount: 7, unit: "days" },
  { amount: 30, unit: "days" },
  { amount: 2, unit: "weeks" },
];
const DATE_DURATIONS = DURATIONS.filter((d) => d.unit === "days" || d.unit === "weeks");

const maybe = <T>(arb: fc.Arbitrary<T>) => fc.option(arb, { nil: null, freq: 4 });

function datasetArb(domain: Domain) {
  const instant = fc.constantFrom(...domain.instants);
  const profile = fc.record({
    "homeAddress.city": maybe(fc.constantFrom(...STRINGS)),
    "person.name.lastName": maybe(fc.constantFrom(...STRINGS)),
    "loyalty.tier": maybe(fc.constantFrom("gold", "GOLD", "silver", "")),
    "loyalty.points": maybe(fc.constantFrom(...INTEGERS)),
    "loyalty.score": maybe(fc.constantFrom(...NUMBERS)),
    "loyalty.member": maybe(fc.boolean()),
    "person.birthDate": maybe(fc.constantFrom(...domain.dates)),
    signupDate: maybe(instant.map((t) => new Date(t))),
    lastSeen: maybe(instant.map((t) => new Date(t))),
    interests: maybe(fc.constantFrom<string[]>([], ["golf"], ["golf", "wine"], ["Golf"])),
  });
  const event = fc.record({
    type: fc.constantFrom(...TYPES),
    ts: instant,
    priceTotal: maybe(fc.constantFrom(0, 50, 100, 100.5, 250)),
    quantity: maybe(fc.constantFrom(1, 2)),
    currency: maybe(fc.constantFrom("EUR", "eur", "USD")),
    page: maybe(fc.constantFrom("pricing", "home", "")),
    gift: maybe(fc.boolean()),
    shippedAt: maybe(instant),
  });
  return fc
    .array(fc.record({ profile, events: fc.array(event, { maxLength: 6 }) }), {
      minLength: 20,
      maxLength: 30,
    })
    .map((rows) => {
      const profiles: Record<string, unknown>[] = [];
      const events: ScenarioEvent[] = [];
      rows.forEach((row, i) => {
        const id = `p${String(i).padStart(3, "0")}`;
        profiles.push({ _id: id, ...row.profile });
        for (const e of row.events) {
          const { type, ts, shippedAt, ...properties } = e;
          events.push({
            id: `e${String(events.length).padStart(5, "0")}`,
            profileId: id,
            type,
            ts: new Date(ts),
            properties: { ...properties, shippedAt: shippedAt === null ? null : new Date(shippedAt) },
          });
        }
      });
      return { profiles, events };
    });
}

function astArb(domain: Domain): fc.Arbitrary<SegmentAst> {
  const iso = (t: number) => new Date(t).toISOString();
  const timestampLiteral: fc.Arbitrary<Literal> = fc.oneof(
    fc.constantFrom(...domain.instants).map((t) => ({ type: "timestamp" as const, value: iso(t) })),
    fc.constantFrom(...domain.dates).map((d) => ({ type: "date" as const, value: d })),
  );
  const dateLiteral: fc.Arbitrary<Literal> = fc
    .constantFrom(...domain.dates)
    .map((d) => ({ type: "date" as const, value: d }));
  const str = (values: string[]): fc.Arbitrary<Literal> =>
    fc.constantFrom(...values).map((value) => ({ type: "string" as const, value }));
  const num = (values: number[]): fc.Arbitrary<Literal> =>
    fc.constantFrom(...values).map((value) => ({ type: "number" as const, value }));
  const ic = fc.option(fc.constant(true), { nil: undefined });
  const op = fc.constantFrom("=", "!=", "<", "<=", ">", ">=" as const);
  const eqOp = fc.constantFrom("=", "!=" as const);
  const field = (path: string) => ({ kind: "field" as const, path });
  const timePoint = (dateOnly: boolean): fc.Arbitrary<TimePoint> =>
    fc.oneof(
      fc.constantFrom<TimePoint>({ type: "today" }, { type: "now" }),
      fc.constantFrom(...domain.dates).map((value): TimePoint => ({ type: "date", value })),
      ...(dateOnly
        ? []
        : [
            fc.constantFrom(...domain.instants).map((t): TimePoint => ({ type: "timestamp", value: iso(t) })),
          ]),
    );
  const window = (dateOnly: boolean): fc.Arbitrary<Window> =>
    fc.oneof(
      fc.record({
        kind: fc.constantFrom("last", "next" as const),
        duration: fc.constantFrom(...(dateOnly ? DATE_DURATIONS : DURATIONS)),
      }),
      fc.record({ kind: fc.constantFrom("before", "after" as const), at: timePoint(dateOnly) }),
      fc.record({
        kind: fc.constant("calendar" as const),
        period: fc.constantFrom("today", "yesterday", "thisMonth", "lastMonth", "thisYear" as const),
      }),
    );

  /** Leaves over fields of one scope: profile attributes or event properties. */
  const stringLeaf = (path: string, values: string[]): fc.Arbitrary<Condition> =>
    fc.oneof(
      fc.record({
        kind: fc.constant("compare" as const),
        operand: fc.constant(field(path)),
        op: eqOp,
        value: str(values),
        ignoreCase: ic,
      }),
      fc.record({
        kind: fc.constant("in" as const),
        operand: fc.constant(field(path)),
        values: fc.array(str(values), { minLength: 1, maxLength: 3 }),
        negated: fc.boolean(),
        ignoreCase: ic,
      }),
      fc.record({
        kind: fc.constant("text" as const),
        operand: fc.constant(field(path)),
        op: fc.constantFrom("contains", "startsWith", "endsWith" as const),
        value: fc.constantFrom(...STRING_NEEDLES),
        ignoreCase: ic,
      }),
      fc.record({
        kind: fc.constant("matches" as const),
        operand: fc.constant(field(path)),
        pattern: fc.constantFrom(...PATTERNS),
        ignoreCase: ic,
      }),
    );
  const numberLeaf = (path: string, values: number[]): fc.Arbitrary<Condition> =>
    fc.oneof(
      fc.record({
        kind: fc.constant("compare" as const),
        operand: fc.constant(field(path)),
        op,
        value: num(values),
      }),
      fc.record({
        kind: fc.constant("between" as const),
        operand: fc.constant(field(path)),
        low: num(values),
        high: num(values),
      }),
      fc.record({
        kind: fc.constant("in" as const),
        operand: fc.constant(field(path)),
        values: fc.array(num(values), { minLength: 1, maxLength: 3 }),
        negated: fc.boolean(),
      }),
    );
  const timestampLeaf = (path: string): fc.Arbitrary<Condition> =>
    fc.oneof(
      fc.record({
        kind: fc.constant("compare" as const),
        operand: fc.constant(field(path)),
        op,
        value: timestampLiteral,
      }),
      fc.record({
        kind: fc.constant("between" as const),
        operand: fc.constant(field(path)),
        low: timestampLiteral,
        high: timestampLiteral,
      }),
      fc.record({
        kind: fc.constant("inWindow" as const),
        operand: fc.constant(field(path)),
        window: window(false),
      }),
    );
  const presence = (paths: string[]): fc.Arbitrary<Condition> =>
    fc.record({
      kind: fc.constantFrom("exists", "isNull" as const),
      operand: fc.constantFrom(...paths).map(field),
    });

  const eventLeaf: fc.Arbitrary<Condition> = fc.oneof(
    numberLeaf("priceTotal", [0, 50, 100, 100.5]),
    numberLeaf("quantity", [1, 2]),
    stringLeaf("currency", ["EUR", "eur", "USD"]),
    stringLeaf("page", ["pricing", "home", ""]),
    fc.record({
      kind: fc.constant("compare" as const),
      operand: fc.constant(field("gift")),
      op: eqOp,
      value: fc.boolean().map((value) => ({ type: "boolean" as const, value })),
    }),
    timestampLeaf("shippedAt"),
    presence(["priceTotal", "page", "currency", "shippedAt"]),
  );
  const eventWhere: fc.Arbitrary<Condition> = fc.oneof(
    { weight: 3, arbitrary: eventLeaf },
    fc.record({ kind: fc.constant("not" as const), condition: eventLeaf }),
    fc.record({
      kind: fc.constantFrom("and", "or" as const),
      conditions: fc.array(eventLeaf, { minLength: 2, maxLength: 2 }),
    }),
  );
  const selector = (withWindow: boolean): fc.Arbitrary<EventSelector> =>
    fc
      .record({
        type: fc.constantFrom(...TYPES),
        where: fc.option(eventWhere, { nil: undefined, freq: 2 }),
        window: withWindow ? fc.option(window(false), { nil: undefined, freq: 2 }) : fc.constant(undefined),
      })
      .map((s) => {
        const out: EventSelector = { type: s.type };
        if (s.where) out.where = s.where;
        if (s.window) out.window = s.window;
        return out;
      });

  const eventCondition: fc.Arbitrary<Condition> = fc.oneof(
    fc
      .record({
        fn: fc.constantFrom("count", "sum", "avg", "min", "max" as const),
        event: selector(true),
        property: fc.constantFrom("priceTotal", "quantity"),
        op,
        value: num(AGG_VALUES),
      })
      .map(
        ({ fn, event, property, op, value }): Condition => ({
          kind: "compare",
          operand:
            fn === "count" ? { kind: "aggregate", fn, event } : { kind: "aggregate", fn, event, property },
          op,
          value,
        }),
      ),
    fc
      .record({
        event: selector(true),
        op: eqOp,
        value: str(["EUR", "USD", "pricing", ""]),
        property: fc.constantFrom("currency", "page"),
        ignoreCase: ic,
      })
      .map(
        ({ event, op, value, property, ignoreCase }): Condition => ({
          kind: "compare",
          operand: { kind: "latest", event, property },
          op,
          value,
          ...(ignoreCase ? { ignoreCase } : {}),
        }),
      ),
    fc.record({ event: selector(true), kind: fc.constantFrom("exists", "isNull" as const) }).map(
      ({ event, kind }): Condition => ({
        kind,
        operand: { kind: "latest", event, property: "priceTotal" },
      }),
    ),
    fc.record({ kind: fc.constant("eventExists" as const), event: selector(true) }),
    fc
      .record({
        steps: fc.array(selector(false), { minLength: 2, maxLength: 3 }),
        negateLast: fc.boolean(),
        within: fc.option(fc.constantFrom(...DURATIONS), { nil: undefined }),
      })
      .map(({ steps, negateLast, within }): Condition => {
        const sequence: Condition = {
          kind: "sequence",
          steps: steps.map((event, i) => ({ event, negated: negateLast && i === steps.length - 1 })),
        };
        if (within) sequence.within = within;
        return sequence;
      }),
  );

  const profileLeaf: fc.Arbitrary<Condition> = fc.oneof(
    stringLeaf("homeAddress.city", STRINGS),
    stringLeaf("person.name.lastName", STRINGS),
    stringLeaf("loyalty.tier", ["gold", "GOLD", "silver", ""]),
    numberLeaf("loyalty.points", INTEGERS),
    numberLeaf("loyalty.score", NUMBERS),
    fc.record({
      kind: fc.constant("compare" as const),
      operand: fc.constant(field("loyalty.member")),
      op: eqOp,
      value: fc.boolean().map((value) => ({ type: "boolean" as const, value })),
    }),
    fc.record({
      kind: fc.constant("compare" as const),
      operand: fc.constant(field("person.birthDate")),
      op,
      value: dateLiteral,
    }),
    fc.record({
      kind: fc.constant("between" as const),
      operand: fc.constant(field("person.birthDate")),
      low: dateLiteral,
      high: dateLiteral,
    }),
    fc.record({
      kind: fc.constant("inWindow" as const),
      operand: fc.constant(field("person.birthDate")),
      window: window(true),
    }),
    timestampLeaf("signupDate"),
    timestampLeaf("lastSeen"),
    fc.record({
      kind: fc.constant("text" as const),
      operand: fc.constant(field("interests")),
      op: fc.constant("contains" as const),
      value: fc.constantFrom("golf", "Golf"),
    }),
    presence([
      "homeAddress.city",
      "loyalty.points",
      "person.birthDate",
      "signupDate",
      "interests",
      "loyalty.member",
    ]),
    fc.record({
      kind: fc.constant("compare" as const),
      operand: fc.constant({ kind: "age" as const, path: "person.birthDate" }),
      op,
      value: num(AGES),
    }),
    fc.record({
      kind: fc.constant("between" as const),
      operand: fc.constant({ kind: "age" as const, path: "person.birthDate" }),
      low: num(AGES),
      high: num(AGES),
    }),
    fc.record({
      kind: fc.constant("in" as const),
      operand: fc.constant({ kind: "age" as const, path: "person.birthDate" }),
      values: fc.array(num(AGES), { minLength: 1, maxLength: 2 }),
      negated: fc.boolean(),
    }),
    fc.record({
      kind: fc.constant("birthday" as const),
      path: fc.constant("person.birthDate"),
      days: fc.constantFrom(0, 1, 7, 30),
    }),
    { weight: 4, arbitrary: eventCondition },
  );

  const condition = fc.letrec<{ node: Condition }>((tie) => ({
    node: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      { weight: 5, arbitrary: profileLeaf },
      fc.record({ kind: fc.constant("not" as const), condition: tie("node") }),
      fc.record({
        kind: fc.constantFrom("and", "or" as const),
        conditions: fc.array(tie("node"), { minLength: 2, maxLength: 3 }),
      }),
    ),
  })).node;

  return fc
    .record({ timezone: fc.constantFrom(...ZONES, undefined), condition })
    .map(({ timezone, condition }): SegmentAst => {
      const ordered = boundsInOrder(condition, timezone ?? "UTC");
      return timezone ? { version: 1, timezone, condition: ordered } : { version: 1, condition: ordered };
    });
}

/** Saving refuses a `between` whose bounds are the wrong way round: generate them in order. */
function boundsInOrder<T>(node: T, timezone: string): T {
  if (Array.isArray(node)) return node.map((child) => boundsInOrder(child, timezone)) as T;
  if (typeof node !== "object" || node === null) return node;
  const copy = Object.fromEntries(
    Object.entries(node).map(([key, value]) => [key, boundsInOrder(value, timezone)]),
  ) as T & Partial<{ kind: string; low: Literal; high: Literal }>;
  if (
    copy.kind === "between" &&
    copy.low &&
    copy.high &&
    betweenMatchesNothing(copy.low, copy.high, timezone)
  )
    return { ...copy, low: copy.high, high: copy.low };
  return copy;
}

describe("batch SQL (DuckDB, PostgreSQL) and the streaming evaluator agree", () => {
  let duck: Store;
  let pg: Store;
  let schema: SchemaSnapshot;
  let segmentsChecked = 0;
  /** Empty, partial and full audiences: the data must make most segments select some profiles. */
  const shapes = [0, 0, 0];

  beforeAll(async () => {
    [duck, pg] = await Promise.all([freshStore("duckdb"), freshStore("postgres")]);
    [schema] = await Promise.all([prepareSandbox(duck, "agree"), prepareSandbox(pg, "agree")]);
  });
  afterAll(async () => {
    await duck?.close();
    await pg?.close();
  });

  async function audiences(store: Store, asts: SegmentAst[], now: Date): Promise<string[][]> {
    const compiled = compileSegmentsToSql(
      asts.map((ast, i) => ({ id: `g${i}`, ast })),
      { dialect: store.dialect, schema, now },
    );
    const rows = await store.query<Record<string, unknown>>(
      "agree",
      `${compiled.sql} ORDER BY 1`,
      compiled.params,
    );
    return compiled.columns.map((column) => rows.filter((r) => r[column] === true).map((r) => String(r._id)));
  }

  it("on random profiles, events and segments", async () => {
    const property = fc.asyncProperty(
      fc.constantFrom(...NOWS).chain((nowText) => {
        const domain = domainAt(nowText);
        return fc.record({
          now: fc.constant(new Date(domain.now)),
          data: datasetArb(domain),
          asts: fc.array(astArb(domain), { minLength: 80, maxLength: 80 }),
        });
      }),
      async ({ now, data, asts }) => {
        for (const ast of asts) {
          typecheckSegment(ast, schema);
          expect(
            parseSegment(printSegment(ast), { eventFields: [...schema.eventFields.keys()] }).ast,
          ).toEqual(ast);
        }
        for (const store of [duck, pg]) {
          await store.query("agree", "DELETE FROM {events}");
          await store.query("agree", "DELETE FROM {profiles}");
        }
        await Promise.all(
          [duck, pg].map((store) => insertScenario(store, "agree", schema, data.profiles, data.events)),
        );
        const [inDuck, inPg] = await Promise.all([audiences(duck, asts, now), audiences(pg, asts, now)]);
        asts.forEach((ast, i) => {
          const evaluate = compileEvaluator(ast, schema);
          const inMemory = data.profiles
            .filter((p) =>
              evaluate(
                p,
                data.events.filter((e) => e.profileId === p._id),
                now,
              ),
            )
            .map((p) => String(p._id));
          const text = printSegment(ast);
          expect({ text, duckdb: inDuck[i] }).toEqual({ text, duckdb: inMemory });
          const shape = inMemory.length === 0 ? 0 : inMemory.length === data.profiles.length ? 2 : 1;
          shapes[shape] = (shapes[shape] ?? 0) + 1;
          expect({ text, postgres: inPg[i] }).toEqual({ text, postgres: inMemory });
        });
        // The single-segment query is the same compiler; check it agrees on a few.
        for (const [i, ast] of asts.slice(0, 3).entries()) {
          const compiled = compileSegmentToSql(ast, { dialect: duck.dialect, schema, now });
          const rows = await duck.query<{ _id: string }>(
            "agree",
            `${compiled.sql} ORDER BY 1`,
            compiled.params,
          );
          expect(rows.map((r) => r._id)).toEqual(inDuck[i]);
        }
        segmentsChecked += asts.length;
      },
    );
    await fc.assert(property, { numRuns: Number(process.env.SEGMENT_AGREEMENT_RUNS ?? 60) });
    expect(shapes[1] ?? 0).toBeGreaterThan(segmentsChecked / 2);
    expect(segmentsChecked).toBeGreaterThanOrEqual(80 * Number(process.env.SEGMENT_AGREEMENT_RUNS ?? 60));
  }, 400_000);
});
