import { describe, expect, it } from "vitest";
import { isHeraldError } from "../errors/index.ts";
import { type SegmentAst, segmentAstSchema } from "./ast.ts";
import { parseSegment } from "./parse.ts";
import { printSegment } from "./print.ts";
import { testSchema } from "./test-fixtures.ts";
import { typecheckSegment } from "./typecheck.ts";

const eventFields = testSchema.eventFields.keys();
const parse = (text: string) => parseSegment(text, { eventFields: [...testSchema.eventFields.keys()] }).ast;
const field = (path: string) => ({ kind: "field", path }) as const;

function errorOf(work: () => unknown): string {
  try {
    work();
  } catch (error) {
    if (isHeraldError(error)) return error.issues.map((i) => i.message).join(" | ");
    throw error;
  }
  throw new Error("expected an error");
}

const check = (text: string) => {
  const { ast, spans } = parseSegment(text, { eventFields: [...testSchema.eventFields.keys()] });
  typecheckSegment(ast, testSchema, spans);
  return ast;
};

describe("segment language: text → AST", () => {
  const cases: [string, SegmentAst["condition"]][] = [
    [
      'homeAddress.city = "Paris"',
      {
        kind: "compare",
        operand: field("homeAddress.city"),
        op: "=",
        value: { type: "string", value: "Paris" },
      },
    ],
    [
      "loyalty.points != 5",
      { kind: "compare", operand: field("loyalty.points"), op: "!=", value: { type: "number", value: 5 } },
    ],
    [
      "loyalty.points < -2.5",
      { kind: "compare", operand: field("loyalty.points"), op: "<", value: { type: "number", value: -2.5 } },
    ],
    [
      "loyalty.points <= 1e3",
      { kind: "compare", operand: field("loyalty.points"), op: "<=", value: { type: "number", value: 1000 } },
    ],
    [
      "person.birthDate > 1990-02-28",
      {
        kind: "compare",
        operand: field("person.birthDate"),
        op: ">",
        value: { type: "date", value: "1990-02-28" },
      },
    ],
    [
      "signupDate >= 2026-01-31T10:00:00+02:00",
      {
        kind: "compare",
        operand: field("signupDate"),
        op: ">=",
        value: { type: "timestamp", value: "2026-01-31T08:00:00.000Z" },
      },
    ],
    [
      "loyalty.member = true",
      { kind: "compare", operand: field("loyalty.member"), op: "=", value: { type: "boolean", value: true } },
    ],
    [
      'person.name.lastName = "smith" ignoring case',
      {
        kind: "compare",
        operand: field("person.name.lastName"),
        op: "=",
        value: { type: "string", value: "smith" },
        ignoreCase: true,
      },
    ],
    [
      'loyalty.tier in ["gold", "platinum"]',
      {
        kind: "in",
        operand: field("loyalty.tier"),
        negated: false,
        values: [
          { type: "string", value: "gold" },
          { type: "string", value: "platinum" },
        ],
      },
    ],
    [
      'loyalty.tier not in ["gold"] ignoring case',
      {
        kind: "in",
        operand: field("loyalty.tier"),
        negated: true,
        values: [{ type: "string", value: "gold" }],
        ignoreCase: true,
      },
    ],
    [
      'personalEmail.address endsWith "@example.com"',
      { kind: "text", operand: field("personalEmail.address"), op: "endsWith", value: "@example.com" },
    ],
    [
      'person.name.firstName startsWith "Jo"',
      { kind: "text", operand: field("person.name.firstName"), op: "startsWith", value: "Jo" },
    ],
    [
      'interests contains "golf"',
      { kind: "text", operand: field("interests"), op: "contains", value: "golf" },
    ],
    [
      'mobilePhone.number matches "^\\\\+33"',
      { kind: "matches", operand: field("mobilePhone.number"), pattern: "^\\+33" },
    ],
    ["homeAddress.city exists", { kind: "exists", operand: field("homeAddress.city") }],
    ["homeAddress.city is not null", { kind: "exists", operand: field("homeAddress.city") }],
    ["homeAddress.city is null", { kind: "isNull", operand: field("homeAddress.city") }],
    [
      "loyalty.points between 10 and 20",
      {
        kind: "between",
        operand: field("loyalty.points"),
        low: { type: "number", value: 10 },
        high: { type: "number", value: 20 },
      },
    ],
    [
      "age(person.birthDate) > 50",
      {
        kind: "compare",
        operand: { kind: "age", path: "person.birthDate" },
        op: ">",
        value: { type: "number", value: 50 },
      },
    ],
    [
      "signupDate within last 30 days",
      {
        kind: "inWindow",
        operand: field("signupDate"),
        window: { kind: "last", duration: { amount: 30, unit: "days" } },
      },
    ],
    [
      "signupDate within next 1 hour",
      {
        kind: "inWindow",
        operand: field("signupDate"),
        window: { kind: "next", duration: { amount: 1, unit: "hours" } },
      },
    ],
    [
      "signupDate before 2026-01-01",
      {
        kind: "inWindow",
        operand: field("signupDate"),
        window: { kind: "before", at: { type: "date", value: "2026-01-01" } },
      },
    ],
    [
      "signupDate after today",
      { kind: "inWindow", operand: field("signupDate"), window: { kind: "after", at: { type: "today" } } },
    ],
    [
      "signupDate before now",
      { kind: "inWindow", operand: field("signupDate"), window: { kind: "before", at: { type: "now" } } },
    ],
    [
      "signupDate within today",
      { kind: "inWindow", operand: field("signupDate"), window: { kind: "calendar", period: "today" } },
    ],
    [
      "signupDate within this month",
      { kind: "inWindow", operand: field("signupDate"), window: { kind: "calendar", period: "thisMonth" } },
    ],
    [
      "signupDate within last month",
      { kind: "inWindow", operand: field("signupDate"), window: { kind: "calendar", period: "lastMonth" } },
    ],
    [
      "birthday(person.birthDate) within next 7 days",
      { kind: "birthday", path: "person.birthDate", days: 7 },
    ],
    [
      "count(commerce.purchases where priceTotal > 100 within last 30 days) >= 2",
      {
        kind: "compare",
        operand: {
          kind: "aggregate",
          fn: "count",
          event: {
            type: "commerce.purchases",
            where: {
              kind: "compare",
              operand: field("priceTotal"),
              op: ">",
              value: { type: "number", value: 100 },
            },
            window: { kind: "last", duration: { amount: 30, unit: "days" } },
          },
        },
        op: ">=",
        value: { type: "number", value: 2 },
      },
    ],
    [
      "sum(commerce.purchases.priceTotal within this year) > 500",
      {
        kind: "compare",
        operand: {
          kind: "aggregate",
          fn: "sum",
          property: "priceTotal",
          event: { type: "commerce.purchases", window: { kind: "calendar", period: "thisYear" } },
        },
        op: ">",
        value: { type: "number", value: 500 },
      },
    ],
    [
      'latest(commerce.purchases.currency) = "EUR"',
      {
        kind: "compare",
        operand: { kind: "latest", property: "currency", event: { type: "commerce.purchases" } },
        op: "=",
        value: { type: "string", value: "EUR" },
      },
    ],
    [
      'exists(web.pageView where page = "pricing" within last 7 days)',
      {
        kind: "eventExists",
        event: {
          type: "web.pageView",
          where: {
            kind: "compare",
            operand: field("page"),
            op: "=",
            value: { type: "string", value: "pricing" },
          },
          window: { kind: "last", duration: { amount: 7, unit: "days" } },
        },
      },
    ],
    [
      'sequence(web.pageView where page = "pricing" then not commerce.purchases within 7 days)',
      {
        kind: "sequence",
        steps: [
          {
            negated: false,
            event: {
              type: "web.pageView",
              where: {
                kind: "compare",
                operand: field("page"),
                op: "=",
                value: { type: "string", value: "pricing" },
              },
            },
          },
          { negated: true, event: { type: "commerce.purchases" } },
        ],
        within: { amount: 7, unit: "days" },
      },
    ],
    ['inSegment("vip")', { kind: "inSegment", segment: "vip" }],
    [
      'not (homeAddress.city = "Paris" or loyalty.points > 3) and inSegment("vip")',
      {
        kind: "and",
        conditions: [
          {
            kind: "not",
            condition: {
              kind: "or",
              conditions: [
                {
                  kind: "compare",
                  operand: field("homeAddress.city"),
                  op: "=",
                  value: { type: "string", value: "Paris" },
                },
                {
                  kind: "compare",
                  operand: field("loyalty.points"),
                  op: ">",
                  value: { type: "number", value: 3 },
                },
              ],
            },
          },
          { kind: "inSegment", segment: "vip" },
        ],
      },
    ],
  ];

  it.each(cases)("%s", (text, condition) => {
    const ast = parse(text);
    expect(ast).toEqual({ version: 1, condition });
    expect(segmentAstSchema.parse(ast)).toEqual(ast);
    // Canonical text reads back to the same tree.
    expect(parse(printSegment(ast))).toEqual(ast);
  });

  it("binds and tighter than or, and keeps explicit groups", () => {
    expect(parse("a = 1 or b = 2 and c = 3").condition).toMatchObject({
      kind: "or",
      conditions: [{ kind: "compare" }, { kind: "and" }],
    });
    const grouped = parse("(a = 1 and b = 2) and c = 3");
    expect(grouped.condition).toMatchObject({
      kind: "and",
      conditions: [{ kind: "and" }, { kind: "compare" }],
    });
    expect(printSegment(grouped)).toBe("(a = 1 and b = 2) and c = 3");
  });

  it("reads event conditions written without parentheses, where taking a single condition", () => {
    expect(parse('exists web.pageView where page = "pricing" within last 7 days')).toEqual(
      parse('exists(web.pageView where page = "pricing" within last 7 days)'),
    );
    expect(parse('web.pageView where page = "pricing" then not commerce.purchases within 7 days')).toEqual(
      parse('sequence(web.pageView where page = "pricing" then not commerce.purchases within 7 days)'),
    );
    expect(parse('exists web.pageView where page = "pricing" and loyalty.points > 1')).toEqual(
      parse('exists(web.pageView where page = "pricing") and loyalty.points > 1'),
    );
    expect(parse('exists web.pageView where (page = "a" or page = "b") or loyalty.points > 1')).toEqual(
      parse('exists(web.pageView where page = "a" or page = "b") or loyalty.points > 1'),
    );
    expect(errorOf(() => parse('web.pageView where page = "pricing"'))).toContain(
      "line 1, column 1: an event needs a function: exists(...), count(...), latest(...), or a sequence with 'then'",
    );
  });

  it("reads a time zone header and comments", () => {
    const ast = parse(
      'timezone "Europe/Paris"\n# Paris-time birthdays\nbirthday(person.birthDate) within next 7 days',
    );
    expect(ast.timezone).toBe("Europe/Paris");
    expect(printSegment(ast)).toBe('timezone "Europe/Paris"\nbirthday(person.birthDate) within next 7 days');
  });

  it("splits dotted event properties with the schema", () => {
    const ast = parseSegment("max(web.pageView.url) > 1", { eventFields }).ast;
    expect(ast.condition).toMatchObject({ operand: { event: { type: "web.pageView" }, property: "url" } });
  });
});

describe("segment language: errors name line, column and the problem", () => {
  it.each([
    ["homeAddress.city = 'Paris'", "line 1, column 20: unexpected character '''; strings use double quotes"],
    ['homeAddress.city == "Paris"', "line 1, column 19: expected a value"],
    ['homeAddress.city\n  equals "Paris"', "line 2, column 3: expected an operator"],
    [
      'homeAddress.city = "Paris" loyalty.points > 1',
      "line 1, column 28: unexpected 'loyalty' after a complete condition; combine conditions with and / or",
    ],
    ["cont(commerce.purchases) > 1", "line 1, column 1: unknown function 'cont'; did you mean count(...)?"],
    [
      "signupDate within last 2 months",
      "line 1, column 26: rolling windows are counted in minutes, hours, days or weeks",
    ],
    [
      "(loyalty.points > 1",
      "line 1, column 20: expected ')' to close the parenthesis, found the end of the definition",
    ],
    ["person.birthDate = 2026-02-30", "line 1, column 20: 2026-02-30 is not a calendar date"],
    ["loyalty.tier = null", "compare with null using 'is null' or 'exists'"],
    ['loyalty.tier containz "a"', "did you mean contains?"],
    // The AST schema's limits hold for text too: every load parses the stored AST with it.
    ["loyalty.points = 1e999", "line 1, column 18: condition.value.value: Invalid input"],
    ["count(_x) > 1", "line 1, column 7: condition.operand.event.type: must be a dotted field path"],
    ["birthday(person.birthDate) within next 400 days", "line 1, column 1: condition.days: Too big"],
  ])("%s", (text, message) => {
    expect(errorOf(() => parse(text))).toContain(message);
  });
});

describe("regular expressions keep to what JavaScript, RE2 (DuckDB) and PostgreSQL share", () => {
  const matches = (pattern: string) => `mobilePhone.number matches ${JSON.stringify(pattern)}`;
  it.each([
    ["^(?=33)", "lookahead (?=...) at character 2"],
    ["^(?!33)", "negative lookahead (?!...) at character 2"],
    ["(?<=\\+)33", "lookbehind (?<=...) at character 1"],
    ["(?<!0)33", "negative lookbehind (?<!...) at character 1"],
    ["^(?<cc>[0-9]{2})", "named group (?<name>...) at character 2"],
    ["^([0-9])\\1", "backreference \\1 at character 9"],
    ["^([0-9])\\k<cc>", "named backreference \\k<name> at character 9"],
  ])("refuses %s", (pattern, construct) => {
    expect(errorOf(() => check(matches(pattern)))).toContain(
      `line 1, column 1: condition.pattern: ${construct} of the pattern: DuckDB's regular expressions (RE2) do not support it`,
    );
  });

  it("accepts ordinary patterns, and the same characters escaped or inside a class", () => {
    for (const pattern of ["^\\+33[0-9]{9}$", "^(06|07)", "[(?=]\\\\1", "\\(\\?=x"]) {
      expect(check(matches(pattern)).condition).toMatchObject({ kind: "matches", pattern });
    }
  });

  it("refuses the same in an AST given as JSON, by its path", () => {
    const ast = parse(matches("^[0-9]+$"));
    const parsed = segmentAstSchema.safeParse({ ...ast, condition: { ...ast.condition, pattern: "a(?=b)" } });
    expect(parsed.error?.issues[0]).toMatchObject({
      path: ["condition", "pattern"],
      message: expect.stringContaining("lookahead (?=...) at character 2 of the pattern"),
    });
  });
});

describe("segment type checking", () => {
  it.each([
    ["person.age > 50", "line 1, column 1: person.age is not a field; did you mean age(person.birthDate)?"],
    ['person.name.lastNam = "x"', "person.name.lastNam is not a field; did you mean person.name.lastName?"],
    [
      'person.birthDate = "yesterday"',
      "line 1, column 20: cannot compare a date with a string; write dates as 2026-01-31",
    ],
    ["homeAddress.city = 3", "cannot compare a string with a number; strings are written in double quotes"],
    ['homeAddress.city > "M"', "> does not apply to string values"],
    ["loyalty.points = 1 ignoring case", "'ignoring case' applies to strings"],
    ["priceTotal > 3", "priceTotal is an event property"],
    ["count(commerce.purchases where homeAddress.city exists) > 1", "homeAddress.city is a profile field"],
    ["sum(commerce.purchases.currency) > 1", "sum(...) needs a numeric property; currency is a string"],
    ["person.birthDate within last 3 hours", "count its window in days or weeks"],
    ['mobilePhone.number matches "("', "invalid regular expression"],
    ["loyalty.tier within today", "time windows apply to dates and timestamps"],
    ['interests = "golf"', "a list cannot be compared with =; use contains"],
    [
      "sequence(commerce.purchases then not web.pageView then web.pageView)",
      "only the last step of a sequence can be 'then not'",
    ],
    ['timezone "Mars/Olympus"\nloyalty.points > 1', "unknown time zone 'Mars/Olympus'"],
  ])("%s", (text, message) => {
    expect(errorOf(() => check(text))).toContain(message);
  });

  it("reports every problem at once, with JSON paths for ASTs without text", () => {
    const ast = segmentAstSchema.parse({
      version: 1,
      condition: {
        kind: "and",
        conditions: [
          {
            kind: "compare",
            operand: { kind: "field", path: "nope" },
            op: "=",
            value: { type: "number", value: 1 },
          },
          {
            kind: "compare",
            operand: { kind: "field", path: "loyalty.points" },
            op: "=",
            value: { type: "string", value: "1" },
          },
        ],
      },
    });
    const message = errorOf(() => typecheckSegment(ast, testSchema));
    expect(message).toContain("condition.conditions.0.operand: nope is not a field");
    expect(message).toContain("condition.conditions.1.value: cannot compare an integer with a string");
  });

  describe("a between whose bounds are the wrong way round matches nothing", () => {
    it.each([
      [
        "loyalty.points between 20 and 10",
        "line 1, column 1: between 20 and 10 matches nothing: the first bound is after the second; write between 10 and 20",
      ],
      [
        'homeAddress.city = "Paris" and\n  age(person.birthDate) between 65 and 18',
        "line 2, column 3: between 65 and 18 matches nothing",
      ],
      ["count(commerce.purchases) between 5 and 2", "between 5 and 2 matches nothing"],
      [
        "person.birthDate between 2000-12-31 and 2000-01-01",
        "between 2000-12-31 and 2000-01-01 matches nothing",
      ],
      [
        "signupDate between 2026-03-02T00:00:00Z and 2026-03-01T23:59:59Z",
        // Timestamps are shown as stored, in UTC with milliseconds.
        "between 2026-03-02T00:00:00.000Z and 2026-03-01T23:59:59.000Z matches nothing",
      ],
      // A date bound covers its whole day: the timestamp is after that day's end.
      [
        "signupDate between 2026-03-02T00:00:00Z and 2026-03-01",
        "between 2026-03-02T00:00:00.000Z and 2026-03-01 matches nothing",
      ],
      // ... in the segment's time zone: Paris's 2 March starts at 1 March 23:00 UTC.
      [
        'timezone "Europe/Paris"\nsignupDate between 2026-03-02 and 2026-03-01T22:59:59Z',
        "line 2, column 1: between 2026-03-02 and 2026-03-01T22:59:59.000Z matches nothing",
      ],
    ])("%s", (text, message) => {
      expect(errorOf(() => check(text))).toContain(message);
    });

    it("accepts equal bounds (inclusive) and a timestamp inside a date bound's day", () => {
      for (const text of [
        "loyalty.points between 10 and 10",
        "loyalty.points between -5 and 2.5",
        "person.birthDate between 2000-01-01 and 2000-01-01",
        "signupDate between 2026-03-01T10:00:00Z and 2026-03-01T10:00:00Z",
        "signupDate between 2026-03-01 and 2026-03-01T00:00:00Z",
        "signupDate between 2026-03-01T23:59:59Z and 2026-03-01",
        'timezone "Europe/Paris"\nsignupDate between 2026-03-02 and 2026-03-01T23:00:00Z',
      ]) {
        expect(() => check(text), text).not.toThrow();
      }
    });

    it("in an AST given as JSON, by its path", () => {
      const ast = segmentAstSchema.parse({
        version: 1,
        condition: {
          kind: "not",
          condition: {
            kind: "between",
            operand: { kind: "field", path: "loyalty.points" },
            low: { type: "number", value: 20 },
            high: { type: "number", value: 10 },
          },
        },
      });
      expect(errorOf(() => typecheckSegment(ast, testSchema))).toBe(
        "condition.condition: between 20 and 10 matches nothing: the first bound is after the second; write between 10 and 20",
      );
    });
  });

  it("accepts every construct of the language reference", () => {
    expect(() =>
      check(`timezone "America/New_York"
        age(person.birthDate) between 18 and 65
        and homeAddress.countryCode in ["FR", "DE"]
        and (loyalty.tier = "GOLD" ignoring case or loyalty.score >= 9.5)
        and not consents.marketing.email.val = "n"
        and count(commerce.purchases where priceTotal > 100 and currency = "EUR" within last 30 days) >= 2
        and avg(commerce.purchases.priceTotal within this month) < 1000
        and latest(web.pageView.page within last 7 days) startsWith "pri"
        and exists(web.pageView where url contains "/pricing" within last 7 days)
        and sequence(web.pageView where page = "pricing" then not commerce.purchases within 7 days)
        and signupDate after 2025-01-01
        and birthday(person.birthDate) within next 7 days`),
    ).not.toThrow();
  });
});
