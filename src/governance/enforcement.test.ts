import { describe, expect, it } from "vitest";
import { defaultSchema, type Field, fieldDefinitionSchema } from "../schema/index.ts";
import { parseSegment } from "../segments/index.ts";
import { findViolations, type GovernanceFacts, type GovernedDataflow } from "./enforcement.ts";
import type { LabelExpression } from "./label-expression.ts";
import { CORE_MARKETING_ACTIONS } from "./marketing-actions.ts";
import type { Policy } from "./policy-store.ts";

/** The default schema with extra labels on some fields. */
function facts(
  labels: Record<string, string[]>,
  policies: Policy[],
  segments: Record<string, string>,
): GovernanceFacts {
  const fields: Field[] = defaultSchema.map((d) => {
    const f = fieldDefinitionSchema.parse(d);
    const key = `${f.entity}:${f.path}`;
    return { ...f, labels: [...f.labels, ...(labels[key] ?? [])] } as Field;
  });
  const eventFields = [...fields.filter((f) => f.entity === "event")].map((f) => f.path);
  return {
    policies,
    actions: CORE_MARKETING_ACTIONS,
    schema: {
      profileFields: new Map(fields.filter((f) => f.entity === "profile").map((f) => [f.path, f])),
      eventFields: new Map(fields.filter((f) => f.entity === "event").map((f) => [f.path, f])),
      identities: new Map(fields.filter((f) => f.namespace).map((f) => [f.namespace as string, f])),
    },
    segments: new Map(
      Object.entries(segments).map(([id, text]) => [
        id,
        { name: id, ast: parseSegment(text, { eventFields }).ast },
      ]),
    ),
  };
}

const policy = (
  marketingAction: string,
  expression: LabelExpression,
  status: Policy["status"] = "enabled",
): Policy => ({
  id: `${marketingAction}-${JSON.stringify(expression)}`,
  name: `deny ${marketingAction}`,
  description: "",
  marketingAction,
  expression,
  status,
  core: false,
  createdAt: new Date(0),
  updatedAt: new Date(0),
});

const dataflow = (overrides: Partial<GovernedDataflow> = {}): GovernedDataflow => ({
  name: "Buyers",
  marketingActions: ["Combine with directly identifiable data"],
  segments: [{ segmentId: "buyers", schedule: { frequency: "daily" } }],
  mapping: { columns: [{ source: { kind: "membership", field: "status" } }] },
  destinationName: "Drop (SFTP)",
  ...overrides,
});

const BUYERS = { buyers: 'exists(commerce.purchases where currency = "EUR")', vip: 'inSegment("buyers")' };
const C3_AND_I1: LabelExpression = { operator: "AND", operands: ["C3", "I1"] };

describe("policy evaluation on a dataflow", () => {
  it("joins labels from a segment's event property and a mapped identity for an AND policy", () => {
    const known = facts({ "event:currency": ["C3"] }, [policy("combine_with_pii", C3_AND_I1)], BUYERS);
    expect(findViolations(known, dataflow())).toEqual([]);
    const mapped = dataflow({
      mapping: { columns: [{ source: { kind: "identity", namespace: "email" }, target: "mail" }] },
    });
    const [violation] = findViolations(known, mapped);
    expect(violation?.labels).toEqual(["C3", "I1"]);
    expect(
      violation?.lineage.map((e) => [e.label, e.field, e.entity, e.usedBy, e.column ?? e.segment?.id]),
    ).toEqual([
      ["C3", "currency", "event", "segment", "buyers"],
      ["I1", "personalEmail.address", "profile", "mapping", "mail"],
    ]);
    expect(violation?.lineage[0]?.destination).toBe("Drop (SFTP)");
  });

  it("reads segments through inSegment, and a stream's unmapped identities as exported", () => {
    const known = facts({ "event:currency": ["C3"] }, [policy("combine_with_pii", C3_AND_I1)], BUYERS);
    const streamed = dataflow({ segments: [{ segmentId: "vip", schedule: { frequency: "streaming" } }] });
    const [violation] = findViolations(known, streamed);
    expect(violation?.lineage.map((e) => `${e.label}:${e.field}:${e.column ?? e.segment?.id}`)).toEqual([
      "C3:currency:vip",
      "I1:personalEmail.address:identities.email",
      "I1:mobilePhone.number:identities.phone",
    ]);
  });

  it("ignores disabled policies, other actions and actions named by id or name alike", () => {
    const mapped = dataflow({
      mapping: { columns: [{ source: { kind: "attribute", path: "homeAddress.city" } }] },
    });
    const s2 = { operator: "OR", operands: ["S2"] } as const satisfies LabelExpression;
    const check = (policies: Policy[], actions: string[]) =>
      findViolations(facts({}, policies, BUYERS), { ...mapped, marketingActions: actions }).length;
    expect(check([policy("email_targeting", s2, "disabled")], ["Email targeting"])).toBe(0);
    expect(check([policy("email_targeting", s2, "draft")], ["Email targeting"])).toBe(0);
    expect(check([policy("analytics", s2)], ["Email targeting"])).toBe(0);
    expect(check([policy("email_targeting", s2)], ["email_targeting"])).toBe(1);
    expect(check([policy("email_targeting", s2)], ["EMAIL TARGETING"])).toBe(1);
  });
});
