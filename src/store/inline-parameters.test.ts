import { describe, expect, it } from "vitest";
import { inlineParameters } from "./inline-parameters.ts";

describe("inlining a statement's parameters", () => {
  it("writes each value as an escaped literal, $10 apart from $1", () => {
    const params = ["o'Brien", 42, true, null, new Date("2026-11-27T08:00:00Z"), 6, 7, 8, 9, "ten"];
    expect(inlineParameters("SELECT $1, $2, $3, $4, $5 WHERE x IN ($10, $1)", params)).toBe(
      "SELECT 'o''Brien', '42', TRUE, NULL, '2026-11-27T08:00:00.000Z' WHERE x IN ('ten', 'o''Brien')",
    );
    // node-postgres writes a value with a backslash as an E'' string (after a space).
    expect(inlineParameters("SELECT $1", ["back\\slash"])).toBe("SELECT  E'back\\\\slash'");
  });

  it("leaves what looks like a placeholder inside strings, identifiers and comments", () => {
    const sql = `SELECT 'costs $1', 'it''s $1', E'\\'$1', "col$1" -- $1\n, /* $1 */ $1`;
    expect(inlineParameters(sql, ["v"])).toBe(
      `SELECT 'costs $1', 'it''s $1', E'\\'$1', "col$1" -- $1\n, /* $1 */ 'v'`,
    );
  });

  it("refuses a placeholder without a value, and a value with no literal form", () => {
    expect(() => inlineParameters("SELECT $2", ["a"])).toThrow("parameter $2 has no value (1 given)");
    expect(() => inlineParameters("SELECT $1", [{ a: 1 }])).toThrow("parameter $1 (object)");
    expect(() => inlineParameters("SELECT $1", [Number.NaN])).toThrow("parameter $1 (number)");
  });
});
