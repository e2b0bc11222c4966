import { describe, expect, it } from "vitest";
import { applyPresets, type Mapping } from "./mapping.ts";

const mapping: Mapping = {
  columns: [
    { source: { kind: "identity", namespace: "email" }, target: "email", mandatory: false },
    { source: { kind: "identity", namespace: "phone" }, target: "phone", mandatory: false },
    { source: { kind: "attribute", path: "person.name.firstName" }, mandatory: false },
  ],
};

describe("destination presets on a mapping", () => {
  it("makes the required identity mandatory and hashes every identity for advertising", () => {
    const applied = applyPresets(mapping, { identityHashing: "sha256", requiredIdentity: "email" }, "Ads");
    expect(applied.columns).toEqual([
      { source: { kind: "identity", namespace: "email" }, target: "email", mandatory: true, hash: "sha256" },
      { source: { kind: "identity", namespace: "phone" }, target: "phone", mandatory: false, hash: "sha256" },
      { source: { kind: "attribute", path: "person.name.firstName" }, mandatory: false },
    ]);
  });

  it("refuses a mapping without the required identity, saying what to add", () => {
    expect(() =>
      applyPresets({ columns: mapping.columns.slice(1) }, { requiredIdentity: "email" }, "Email marketing"),
    ).toThrow(/Email marketing needs the 'email' identity.*"namespace": "email"/);
  });

  it("leaves a mapping alone when the destination has no presets", () => {
    expect(applyPresets(mapping, undefined, "S3")).toBe(mapping);
  });
});
