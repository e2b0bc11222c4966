import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { createDataflow, runSegmentExport } from "../../src/activation/index.ts";
import { createAccount } from "../../src/destinations/index.ts";
import { createConsentPolicy, setConsentPolicyStatus } from "../../src/governance/index.ts";
import { ingestProfileRecords } from "../../src/profiles/index.ts";
import { loadSchema } from "../../src/schema/index.ts";
import type { Store } from "../../src/store/index.ts";
import {
  activationFixture,
  dataflowFor,
  FRENCH,
  fixtureProfile,
  parseCsvFiles,
  sandbox,
} from "../support/activation.ts";
import { apiFor } from "../support/api.ts";
import { engines } from "../support/stores.ts";

/**
 * Consent policies: an export made for "Email targeting" excludes the profiles whose
 * consents.marketing.email.val is not "y" (missing included), counted as excluded for consent.
 * Profile i consents when i % 3 == 0, refuses when i % 3 == 1, says nothing otherwise.
 */
const CONSENT = "consents.marketing.email.val";
const consentOf = (i: number) => (i % 3 === 0 ? "y" : i % 3 === 1 ? "n" : undefined);
const PROFILES = 200;

/** The fixture's counts, from its rules: French = even i, no last name = i % 7 == 0. */
function expected() {
  const french = Array.from({ length: PROFILES }, (_, i) => i).filter((i) => i % 2 === 0);
  const consenting = french.filter((i) => consentOf(i) === "y");
  const exported = consenting.filter((i) => i % 7 !== 0);
  return {
    received: french.length,
    consent: french.length - consenting.length,
    missingMandatory: consenting.length - exported.length,
    emails: exported.map((i) => `person${i}@example.com`).sort(),
  };
}

describe.each(engines)("consent policies on %s", (engine) => {
  let store: Store | undefined;
  let root = "";
  afterEach(async () => {
    await store?.close();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  async function setup(dataflowOverrides: Record<string, unknown> = {}) {
    const fixture = await activationFixture(engine, PROFILES);
    store = fixture.store;
    // The default schema holds the consent attribute.
    const schema = await loadSchema(fixture.store, sandbox);
    await ingestProfileRecords(
      fixture.store,
      schema,
      Array.from({ length: PROFILES }, (_, i) => ({
        ...fixtureProfile(i),
        ...(consentOf(i) ? { consents: { marketing: { email: { val: consentOf(i) } } } } : {}),
      })),
    );
    root = fs.mkdtempSync(path.join(os.tmpdir(), "herald-consent-"));
    const account = await createAccount(fixture.deps, sandbox, {
      destinationId: "local",
      name: "crm",
      connection: { root },
    });
    const dataflow = await createDataflow(
      fixture.deps,
      sandbox,
      dataflowFor(account.id, {
        details: { folderPath: "" },
        fileOptions: { compression: "none" },
        ...dataflowOverrides,
      }),
    );
    const run = () =>
      runSegmentExport(fixture.deps, sandbox, {
        dataflowId: dataflow.id,
        segmentId: FRENCH,
        trigger: "manual",
        scheduledFor: new Date("2026-11-20T05:00:00Z"),
      });
    const exportedEmails = (names: string[]) =>
      parseCsvFiles(
        names.map((n) => fs.readFileSync(path.join(root, n))),
        ",",
        false,
      )
        .map((r) => r.email)
        .sort();
    return { fixture, run, exportedEmails };
  }

  it("excludes the profiles without the consent the dataflow's action needs, counted apart, and follows the policy's status", async () => {
    const { fixture, run, exportedEmails } = await setup();
    const policy = await createConsentPolicy(fixture.store, sandbox, {
      name: "Email needs opt-in",
      marketingAction: "Email targeting",
      field: CONSENT,
      allowedValues: ["y"],
    });
    const want = expected();
    const consented = await run();
    expect(consented.status).toBe("succeeded");
    expect(consented).toMatchObject({
      received: want.received,
      activated: want.emails.length,
      excluded: { consent: want.consent, missingMandatory: want.missingMandatory, duplicate: 0 },
      failed: 0,
    });
    expect(exportedEmails(consented.files.map((f) => f.name))).toEqual(want.emails);

    await setConsentPolicyStatus(fixture.store, sandbox, policy.id, "disabled");
    const unchecked = await run();
    expect(unchecked.excluded).toMatchObject({ consent: 0 });
    expect(unchecked.activated).toBeGreaterThan(want.emails.length);
  });

  it("excludes the same when no column reads the membership (DuckDB reads the table in its own order)", async () => {
    const base = dataflowFor("x");
    const { fixture, run, exportedEmails } = await setup({
      mapping: { columns: base.mapping.columns.filter((c) => c.source.kind !== "membership") },
    });
    await createConsentPolicy(fixture.store, sandbox, {
      name: "Email needs opt-in",
      marketingAction: "email_targeting",
      field: CONSENT,
      allowedValues: ["y"],
    });
    const want = expected();
    const result = await run();
    expect(result.excluded).toMatchObject({ consent: want.consent, missingMandatory: want.missingMandatory });
    expect(exportedEmails(result.files.map((f) => f.name))).toEqual(want.emails);
  });

  it("leaves exports made for other marketing actions alone", async () => {
    const { fixture, run } = await setup();
    await createConsentPolicy(fixture.store, sandbox, {
      name: "Ads need opt-in",
      marketingAction: "Onsite advertising",
      field: CONSENT,
      allowedValues: ["y"],
    });
    const result = await run();
    expect(result.excluded).toMatchObject({ consent: 0 });
  });
});

describe("consent policies through the API", () => {
  let store: Store | undefined;
  afterEach(async () => {
    await store?.close();
  });

  it("creates, disables and deletes one, refusing an unknown field or action by name", async () => {
    const fixture = await activationFixture("duckdb", 10);
    store = fixture.store;
    const { app } = await apiFor(fixture.store);
    try {
      const post = (payload: object) => app.inject({ method: "POST", url: "/v1/consent-policies", payload });
      const created = await post({
        name: "opt-in",
        marketingAction: "email_targeting",
        field: CONSENT,
        allowedValues: ["y", true],
      });
      expect(created.statusCode).toBe(201);
      expect(created.json()).toMatchObject({
        marketingAction: "email_targeting",
        status: "enabled",
        allowedValues: ["y", true],
      });
      const unknownField = await post({
        name: "x",
        marketingAction: "email_targeting",
        field: "consents.nope",
        allowedValues: ["y"],
      });
      expect(unknownField.statusCode).toBe(400);
      expect(unknownField.json().error.issues).toEqual([expect.objectContaining({ field: "field" })]);
      const unknownAction = await post({
        name: "x",
        marketingAction: "Carrier pigeons",
        field: CONSENT,
        allowedValues: ["y"],
      });
      expect(unknownAction.statusCode).toBe(400);
      expect(unknownAction.json().error.issues).toEqual([
        expect.objectContaining({ field: "marketingAction" }),
      ]);
      const id = created.json().id as string;
      const disabled = await app.inject({
        method: "PATCH",
        url: `/v1/consent-policies/${id}`,
        payload: { status: "disabled" },
      });
      expect(disabled.json().status).toBe("disabled");
      expect((await app.inject({ method: "DELETE", url: `/v1/consent-policies/${id}` })).statusCode).toBe(
        204,
      );
      expect((await app.inject("/v1/consent-policies")).json().items).toEqual([]);
    } finally {
      await app.close();
    }
  });
});
