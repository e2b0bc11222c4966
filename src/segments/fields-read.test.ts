import { describe, expect, it } from "vitest";
import type { SegmentAst } from "./ast.ts";
import { fieldsRead } from "./fields-read.ts";
import { parseSegment } from "./parse.ts";
import { testSchema } from "./test-fixtures.ts";

const parse = (text: string) => parseSegment(text, { eventFields: [...testSchema.eventFields.keys()] }).ast;
const read = (text: string, others: Record<string, string> = {}) => {
  const resolved = new Map(Object.entries(others).map(([id, t]) => [id, parse(t)]));
  return fieldsRead(parse(text), (id) => resolved.get(id))
    .map((f) => `${f.entity}:${f.path}`)
    .sort();
};

describe("the fields a segment's rule reads", () => {
  it.each([
    ['homeAddress.city = "Paris"', ["profile:homeAddress.city"]],
    ["age(person.birthDate) > 50", ["profile:person.birthDate"]],
    ["birthday(person.birthDate) within next 7 days", ["profile:person.birthDate"]],
    ["count(commerce.purchases where priceTotal > 100 within last 30 days) >= 2", ["event:priceTotal"]],
    ["sum(commerce.purchases.priceTotal within this year) > 500", ["event:priceTotal"]],
    ['latest(commerce.purchases.currency) = "EUR"', ["event:currency"]],
    ['exists(web.pageView where page = "pricing" within last 7 days)', ["event:page"]],
    [
      'sequence(web.pageView where page = "pricing" then not commerce.purchases within 7 days)',
      ["event:page"],
    ],
    [
      'not (homeAddress.city = "Paris" or loyalty.points > 3) and exists(commerce.purchases)',
      ["profile:homeAddress.city", "profile:loyalty.points"],
    ],
  ])("%s", (text, expected) => {
    expect(read(text)).toEqual(expected);
  });

  it("follows inSegment references, once each, and skips unknown ones", () => {
    const others = { vip: 'loyalty.tier = "gold" and inSegment("rich")', rich: "loyalty.points > 1000" };
    expect(read('homeAddress.city = "Paris" and inSegment("vip") and inSegment("nowhere")', others)).toEqual([
      "profile:homeAddress.city",
      "profile:loyalty.points",
      "profile:loyalty.tier",
    ]);
    const cycle: SegmentAst = parse('inSegment("a")');
    expect(fieldsRead(cycle, () => cycle)).toEqual([]);
  });
});
