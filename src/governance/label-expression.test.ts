import { describe, expect, it } from "vitest";
import {
  type LabelExpression,
  labelExpressionSchema,
  labelsThatHold,
  printExpression,
} from "./label-expression.ts";

const and = (...operands: LabelExpression["operands"]): LabelExpression => ({ operator: "AND", operands });
const or = (...operands: LabelExpression["operands"]): LabelExpression => ({ operator: "OR", operands });

describe("label expressions", () => {
  // [expression, labels in play, labels that made it hold (undefined: it does not hold)]
  const cases: [LabelExpression, string[], string[] | undefined][] = [
    [or("C2"), ["C2"], ["C2"]],
    [or("C2"), ["C3", "I1"], undefined],
    [or("C2", "C12"), ["C12", "I1"], ["C12"]],
    [or("C2", "C12"), ["C2", "C12"], ["C2", "C12"]],
    [and("C3", "I1"), ["C3"], undefined],
    [and("C3", "I1"), ["C3", "I1", "S2"], ["C3", "I1"]],
    // C2 OR (C3 AND I1)
    [or("C2", and("C3", "I1")), ["C3", "I1"], ["C3", "I1"]],
    [or("C2", and("C3", "I1")), ["C3"], undefined],
    [or("C2", and("C3", "I1")), ["C2", "C3"], ["C2"]],
    // (C4 OR C5) AND (I1 OR I2)
    [and(or("C4", "C5"), or("I1", "I2")), ["C5", "I2"], ["C5", "I2"]],
    [and(or("C4", "C5"), or("I1", "I2")), ["C5"], undefined],
    [and(or("C4", "C5"), or("I1", "I2")), ["I1", "I2"], undefined],
    // three levels: C1 AND (C2 OR (C3 AND S1))
    [and("C1", or("C2", and("C3", "S1"))), ["C1", "C3", "S1"], ["C1", "C3", "S1"]],
    [and("C1", or("C2", and("C3", "S1"))), ["C1", "C3"], undefined],
    [or("PII-EU"), ["PII-EU"], ["PII-EU"]],
  ];
  it.each(cases)("%j on %j holds with %j", (expression, inPlay, expected) => {
    expect(labelsThatHold(expression, new Set(inPlay))).toEqual(expected);
  });

  it("prints nested operands in parentheses", () => {
    expect(printExpression(or("C2", and("C3", "I1")))).toBe("C2 OR (C3 AND I1)");
    expect(printExpression(and(or("C4", "C5"), "I1"))).toBe("(C4 OR C5) AND I1");
    expect(printExpression(or("C6"))).toBe("C6");
  });

  it("accepts only AND and OR, and no empty operand list", () => {
    expect(labelExpressionSchema.safeParse(or("C2", and("C3", "I1"))).success).toBe(true);
    expect(labelExpressionSchema.safeParse({ operator: "NOT", operands: ["C2"] }).success).toBe(false);
    expect(labelExpressionSchema.safeParse({ operator: "AND", operands: [] }).success).toBe(false);
    expect(labelExpressionSchema.safeParse(or("C2", { operator: "OR", operands: [] })).success).toBe(false);
    expect(labelExpressionSchema.safeParse(or("not a label")).success).toBe(false);
  });
});
