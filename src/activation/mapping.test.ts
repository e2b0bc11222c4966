import { describe, expect, it } from "vitest";
import { applyPresets, type Mapping } from "./mapping.ts";

const mapping: Mapping = {
  columns: [
    { source: { kind: "identity", namespace: "email" }, target: "email", mandatory: false },
    { source: { kind: "identity", namespace: "phone" }, target: "phone", mandatory: false },
    { source: { kind: "attribute", path: "person.name.firstName" }, mandatory: false },
  ],
};
const schema = {
  identities: new Map([
    ["email", { path: "personalEmail.address" }],
    ["phone", { path: "mobilePhone.number" }],
  ]),
};

describe("destination presets on a mapping", () => {
  it("makes the required identity mandatory and hashes every identity for advertising", () => {
    const applied = applyPresets(
      mapping,
      { identityHashing: "sha256", requiredIdentity: "email" },
      "Ads",
      schema,
    );
    expect(applied.columns).toEqual([
      { source: { kind: "identity", namespace: "email" }, target: "email", mandatory: true, hash: "sha256" },
      { source: { kind: "identity", namespace: "phone" }, target: "phone", mandatory: false, hash: "sha256" },
      { source: { kind: "attribute", path: "person.name.firstName" }, mandatory: false },
    ]);
  });

  it("refuses a mapping without the required identity, saying what to add", () => {
    expect(() =>
      applyPresets(
        { columns: mapping.columns.slice(1) },
        { requiredIdentity: "email" },
        "Email marketing",
        schema,
      ),
    ).toThrow(/Email marketing needs the 'email' identity.*"namespace": "email"/);
  });

  it("refuses, where identities go out hashed, an attribute column reading an identity's field in clear", () => {
    const withEmailInClear: Mapping = {
      columns: [
        ...mapping.columns,
        { source: { kind: "attribute", path: "personalEmail.address" }, mandatory: false },
      ],
    };
    expect(() => applyPresets(withEmailInClear, { identityHashing: "sha256" }, "Ads", schema)).toThrow(
      expect.objectContaining({
        message: expect.stringMatching(
          /^mapping\.columns\.3: 'personalEmail\.address' holds the 'email' identity, which Ads receives hashed.*"namespace": "email"/,
        ),
        issues: [{ field: "mapping.columns.3.source.path", message: expect.any(String) }],
      }),
    );
    // Without hashing the identity goes out in clear anyway: an attribute copy of it is allowed.
    expect(
      applyPresets(withEmailInClear, { requiredIdentity: "email" }, "Email marketing", schema).columns,
    ).toHaveLength(4);
  });

  it("leaves a mapping alone when the destination has no presets", () => {
    expect(applyPresets(mapping, undefined, "S3", schema)).toBe(mapping);
  });
});
