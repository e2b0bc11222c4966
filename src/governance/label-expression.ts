import { z } from "zod";
import { labelNameSchema } from "./labels.ts";

/**
 * When a policy applies: labels joined by AND / OR, nested. `{ "operator": "OR", "operands":
 * ["C2", { "operator": "AND", "operands": ["C3", "I1"] }] }` holds when the labels in play include
 * C2, or both C3 and I1.
 */
export type LabelExpression = { operator: "AND" | "OR"; operands: (string | LabelExpression)[] };

export const labelExpressionSchema: z.ZodType<LabelExpression> = z.lazy(() =>
  z
    .object({
      operator: z.enum(["AND", "OR"]),
      operands: z
        .array(z.union([labelNameSchema, labelExpressionSchema]))
        .min(1)
        .max(50),
    })
    .strict(),
);

/** Every label an expression names, each once, in order of appearance. */
export function expressionLabels(expression: LabelExpression): string[] {
  const names = expression.operands.flatMap((o) => (typeof o === "string" ? [o] : expressionLabels(o)));
  return [...new Set(names)];
}

/**
 * Whether the expression holds on the labels in play, and if so the labels that made it hold:
 * for AND those of every operand, for OR those of each operand that holds (all of them, so a
 * violation names every label the user would have to deal with). Undefined when it does not hold.
 */
export function labelsThatHold(
  expression: LabelExpression,
  inPlay: ReadonlySet<string>,
): string[] | undefined {
  const results = expression.operands.map((o) =>
    typeof o === "string" ? (inPlay.has(o) ? [o] : undefined) : labelsThatHold(o, inPlay),
  );
  const held = results.filter((r): r is string[] => r !== undefined);
  if (expression.operator === "AND" ? held.length < results.length : held.length === 0) return undefined;
  return [...new Set(held.flat())];
}

/** The expression in words, as messages and the CLI show it: `C2 OR (C3 AND I1)`. */
export function printExpression(expression: LabelExpression, nested = false): string {
  const text = expression.operands
    .map((o) => (typeof o === "string" ? o : printExpression(o, true)))
    .join(` ${expression.operator} `);
  return nested && expression.operands.length > 1 ? `(${text})` : text;
}
