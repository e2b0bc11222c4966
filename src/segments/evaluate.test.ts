import { describe, expect, it } from "vitest";
import type { SegmentAst } from "./ast.ts";
import { compileEvaluator, type ProfileEvent } from "./evaluate.ts";
import { parseSegment } from "./parse.ts";
import { lastWindows, nextTimeChange, streamingEligibility, streamingEventReach } from "./streaming.ts";
import {
  scenarioCases,
  scenarioEvents,
  scenarioNow,
  scenarioProfiles,
  scenarioSegments,
  testSchema,
} from "./test-fixtures.ts";
import { typecheckSegment } from "./typecheck.ts";

const eventFields = [...testSchema.eventFields.keys()];
function definition(text: string): SegmentAst {
  const { ast, spans } = parseSegment(text, { eventFields });
  typecheckSegment(ast, testSchema, spans);
  return ast;
}
const resolve = (id: string) => (scenarioSegments[id] ? definition(scenarioSegments[id]) : undefined);

function eventsOf(profileId: string): ProfileEvent[] {
  return scenarioEvents
    .filter((e) => e.profileId === profileId)
    .map((e) => ({ id: e.id, type: e.type, ts: e.ts, properties: e.properties }));
}

describe("in-memory evaluator", () => {
  it.each(scenarioCases)("%s", (text, members) => {
    const evaluate = compileEvaluator(definition(text), testSchema, { resolve });
    const audience = scenarioProfiles
      .filter((p) => evaluate(p, eventsOf(String(p._id)), scenarioNow))
      .map((p) => p._id);
    expect(audience).toEqual(members);
  });

  it("refuses reference cycles", () => {
    expect(() => compileEvaluator(definition('inSegment("loop_a")'), testSchema, { resolve })).toThrow(
      /cycle: loop_a → loop_b → loop_a/,
    );
  });

  it("moves with the clock it is given", () => {
    const evaluate = compileEvaluator(definition("signupDate within last 1 day"), testSchema);
    const alice = scenarioProfiles[0] ?? {};
    expect(evaluate(alice, [], new Date("2026-03-01T11:00:00Z"))).toBe(true);
    expect(evaluate(alice, [], new Date("2026-03-02T10:00:00Z"))).toBe(true);
    expect(evaluate(alice, [], new Date("2026-03-02T10:00:00.001Z"))).toBe(false);
  });

  it("counts birthdays of Feb 29 on Mar 1 in common years, and ages in the segment's time zone", () => {
    const leap = { "person.birthDate": "2000-02-29" };
    const birthday = compileEvaluator(
      definition("birthday(person.birthDate) within next 0 days"),
      testSchema,
    );
    expect(birthday(leap, [], new Date("2027-03-01T12:00:00Z"))).toBe(true);
    expect(birthday(leap, [], new Date("2027-02-28T12:00:00Z"))).toBe(false);
    expect(birthday(leap, [], new Date("2028-02-29T12:00:00Z"))).toBe(true);
    const inTokyo = compileEvaluator(
      definition('timezone "Asia/Tokyo"\nage(person.birthDate) = 27'),
      testSchema,
    );
    const inUtc = compileEvaluator(definition("age(person.birthDate) = 27"), testSchema);
    const born = { "person.birthDate": "1999-03-02" };
    // 2026-03-01T20:00Z is already March 2nd in Tokyo.
    expect(inTokyo(born, [], new Date("2026-03-01T20:00:00Z"))).toBe(true);
    expect(inUtc(born, [], new Date("2026-03-01T20:00:00Z"))).toBe(false);
  });

  // Its speed is measured by bench/segments.ts, not here.
  it("evaluates a 5-rule segment with an event count, the same answer every time", () => {
    const evaluate = compileEvaluator(
      definition(`homeAddress.countryCode = "FR" and age(person.birthDate) between 25 and 60
        and loyalty.tier in ["gold", "platinum"] and not consents.marketing.email.val = "n"
        and count(commerce.purchases where priceTotal > 100 within last 30 days) >= 2`),
      testSchema,
    );
    const profile = {
      "homeAddress.countryCode": "FR",
      "person.birthDate": "1980-05-01",
      "loyalty.tier": "gold",
      "consents.marketing.email.val": "y",
    };
    const now = new Date("2026-03-15T12:00:00Z");
    const events: ProfileEvent[] = Array.from({ length: 10 }, (_, i) => ({
      type: i % 2 ? "commerce.purchases" : "web.pageView",
      ts: new Date(now.getTime() - i * 3 * 86_400_000),
      properties: { priceTotal: 50 + i * 20, page: "home" },
    }));
    expect(evaluate(profile, events, now)).toBe(true);
    let qualified = 0;
    for (let i = 0; i < 1_000; i++) if (evaluate(profile, events, now)) qualified++;
    expect(qualified).toBe(1_000);
    // The first four events hold one purchase over 100 (110, 9 days ago): two are needed.
    const fewer = events.slice(0, 4);
    expect(evaluate(profile, fewer, now)).toBe(false);
  });
});

describe("streaming eligibility", () => {
  it.each([
    ['homeAddress.city = "Paris" and age(person.birthDate) > 30', true, ""],
    ["count(commerce.purchases within last 7 days) > 1", true, ""],
    ["count(commerce.purchases) > 1", false, "count(...) on commerce.purchases has no time window"],
    [
      "sum(commerce.purchases.priceTotal within this year) > 1",
      false,
      "looks back further than the streaming look-back",
    ],
    ["exists(web.pageView after 2026-01-01)", false, "'after 2026-01-01' has no bounded look-back"],
    [
      "sequence(web.pageView then commerce.purchases within 1 day)",
      false,
      "sequence(...) looks at a profile's whole event history",
    ],
    ['inSegment("parisians")', true, ""],
    ['inSegment("history")', false, 'inSegment("history") refers to a batch-only segment: count(...)'],
  ])("%s", (text, eligible, reason) => {
    const segments: Record<string, string> = {
      ...scenarioSegments,
      history: "count(commerce.purchases) > 3",
    };
    const result = streamingEligibility(definition(text), {
      resolve: (id) => (segments[id] ? definition(segments[id]) : undefined),
    });
    expect(result.eligible).toBe(eligible);
    if (!result.eligible) expect(result.reason).toContain(reason);
  });

  it("accepts longer windows when the look-back is longer", () => {
    const ast = definition("sum(commerce.purchases.priceTotal within this year) > 1");
    expect(streamingEligibility(ast, { maxLookback: { amount: 400, unit: "days" } })).toEqual({
      eligible: true,
    });
  });
});

describe("streaming event reach", () => {
  const DAY = 86_400_000;

  it("names each event type read, with its furthest window, through references and where clauses", () => {
    const segments: Record<string, string> = {
      recent: "exists(web.pageView within last 2 hours)",
    };
    const ast = definition(
      'count(commerce.purchases within last 7 days) > 1 or (exists(commerce.purchases within last 1 days) and inSegment("recent"))',
    );
    const reach = streamingEventReach(ast, {
      resolve: (id) => (segments[id] ? definition(segments[id]) : undefined),
    });
    expect(Object.fromEntries(reach)).toEqual({
      "commerce.purchases": 7 * DAY,
      "web.pageView": 2 * 3_600_000,
    });
    expect(streamingEventReach(definition('homeAddress.city = "Paris"')).size).toBe(0);
    // Calendar windows keep a day of slack (time zones, 25-hour days); nothing reaches past the look-back.
    expect(streamingEventReach(definition("exists(web.pageView within today)")).get("web.pageView")).toBe(
      2 * DAY,
    );
    expect(streamingEventReach(definition("count(commerce.purchases) > 1")).get("commerce.purchases")).toBe(
      30 * DAY,
    );
  });

  // The streaming path loads only these events: every eligible scenario must decide alike on them.
  it.each(scenarioCases)("%s: the same audience from only the events within reach", (text, members) => {
    const ast = definition(text);
    if (!streamingEligibility(ast, { resolve }).eligible) return;
    const reach = streamingEventReach(ast, { resolve });
    const evaluate = compileEvaluator(ast, testSchema, { resolve });
    const now = new Date(scenarioNow).getTime();
    const audience = scenarioProfiles
      .filter((p) => {
        const events = eventsOf(String(p._id)).filter((e) => {
          const back = reach.get(e.type);
          return back !== undefined && new Date(e.ts).getTime() >= now - back;
        });
        return evaluate(p, events, scenarioNow);
      })
      .map((p) => p._id);
    expect(audience).toEqual(members);
  });
});

describe("time changes of last-window segments", () => {
  const HOUR = 3_600_000;

  it("knows the windows when they are all a segment reads of the time", () => {
    expect(
      lastWindows(
        definition(
          "count(commerce.purchases within last 1 days) >= 2 and exists(web.pageView within last 2 hours)",
        ),
      ),
    ).toEqual(
      new Map([
        ["commerce.purchases", [24 * HOUR]],
        ["web.pageView", [2 * HOUR]],
      ]),
    );
    expect(lastWindows(definition('homeAddress.city = "Paris"'))).toEqual(new Map());
    for (const other of [
      "age(person.birthDate) > 50",
      "birthday(person.birthDate) within next 7 days",
      "signupDate within last 30 days",
      "exists(web.pageView within today)",
      "exists(commerce.purchases within last 1 days) and exists(web.pageView within next 2 hours)",
    ]) {
      expect(lastWindows(definition(other))).toBeUndefined();
    }
  });

  // Between records, the result must not change before the instant nextTimeChange gives.
  it.each(scenarioCases)("%s: no change before the next window boundary", (text) => {
    const ast = definition(text);
    const windows = lastWindows(ast, { resolve });
    if (!windows?.size || !streamingEligibility(ast, { resolve }).eligible) return;
    const evaluate = compileEvaluator(ast, testSchema, { resolve });
    const now = new Date(scenarioNow).getTime();
    for (const profile of scenarioProfiles) {
      const events = eventsOf(String(profile._id));
      const next = nextTimeChange(windows, events, now);
      const before = evaluate(profile, events, now);
      const until = Math.min(next, now + 400 * 24 * HOUR);
      for (let t = now; t < until; t += Math.max(1, Math.floor((until - now) / 50))) {
        expect(evaluate(profile, events, t)).toBe(before);
      }
      if (Number.isFinite(next)) expect(next).toBeGreaterThan(now);
    }
  });

  it("gives the next time an event leaves, or a future one enters, a window", () => {
    const windows = new Map([["commerce.purchases", [24 * HOUR, 2 * HOUR]]]);
    const at = (h: number) => ({ type: "commerce.purchases", ts: h * HOUR, properties: {} });
    expect(nextTimeChange(windows, [at(0)], 1 * HOUR)).toBe(2 * HOUR + 1);
    expect(nextTimeChange(windows, [at(0)], 3 * HOUR)).toBe(24 * HOUR + 1);
    expect(nextTimeChange(windows, [at(0), at(5)], 3 * HOUR)).toBe(5 * HOUR);
    expect(nextTimeChange(windows, [at(0)], 25 * HOUR)).toBe(Number.POSITIVE_INFINITY);
  });
});
