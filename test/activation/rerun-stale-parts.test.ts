import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { type ActivationDeps, createDataflow, runSegmentExport } from "../../src/activation/index.ts";
import { createAccount, openAccountConnection } from "../../src/destinations/index.ts";
import { ingestProfileRecords } from "../../src/profiles/index.ts";
import { evaluateSegments } from "../../src/segments/index.ts";
import type { Store } from "../../src/store/index.ts";
import { type S3rverServer, startS3rver } from "../servers/s3rver.ts";
import { activationFixture, dataflowFor, FRENCH, fixtureProfile, sandbox } from "../support/activation.ts";
import { engines } from "../support/stores.ts";

/**
 * A run writes 4 parts and a manifest; the audience shrinks; a rerun for the same scheduled time
 * writes 1 part: the first run's parts _2, _3 and _4 (profiles no longer in the segment) must not
 * stay for a pickup job that reads every file.
 */
const scheduledFor = new Date("2026-11-20T05:00:00Z");
const fileOptions = { compression: "none", maxRowsPerFile: 25, maxFiles: 5, manifest: true };
const firstNames = [1, 2, 3, 4].map((part) => `French-customers_20261120${part === 1 ? "" : `_${part}`}.csv`);
const manifest = "manifest-French-customers_20261120.json";

type Fixture = Awaited<ReturnType<typeof activationFixture>>;

/** 85 French profiles with a last name (4 parts of 25) become 17 (1 part): the others move to Germany. */
async function shrinkAudience(fixture: Pick<Fixture, "store" | "schema">) {
  const leaving = Array.from({ length: 80 }, (_, i) => 40 + 2 * i).map((i) => ({
    ...fixtureProfile(i),
    homeAddress: { city: "Berlin", countryCode: "DE" },
  }));
  await ingestProfileRecords(fixture.store, fixture.schema, leaving);
  await evaluateSegments(fixture.store, sandbox, fixture.schema, [FRENCH]);
}

async function dataflowTo(
  deps: ActivationDeps,
  account: { destinationId: string; connection: object; details?: object },
) {
  const created = await createAccount(deps, sandbox, { name: "pickup", ...account });
  const dataflow = await createDataflow(
    deps,
    sandbox,
    dataflowFor(created.id, { details: account.details ?? { folderPath: "out" }, fileOptions }),
  );
  const run = () =>
    runSegmentExport(deps, sandbox, {
      dataflowId: dataflow.id,
      segmentId: FRENCH,
      trigger: "manual",
      scheduledFor,
    });
  return { accountId: created.id, run };
}

describe.each(engines)("a rerun over a shrunk audience, local folder on %s", (engine) => {
  let store: Store | undefined;
  let root = "";
  afterEach(async () => {
    await store?.close();
    if (root) fs.rmSync(root, { recursive: true, force: true });
  });

  const warn = vi.fn();
  async function setup() {
    const base = await activationFixture(engine);
    warn.mockClear();
    const fixture = { ...base, deps: { ...base.deps, logger: { warn } } };
    store = fixture.store;
    root = fs.mkdtempSync(path.join(os.tmpdir(), "herald-rerun-"));
    fs.mkdirSync(path.join(root, "out"));
    const { run } = await dataflowTo(fixture.deps, { destinationId: "local", connection: { root } });
    const delivered = () => fs.readdirSync(path.join(root, "out")).sort();
    return { fixture, run, delivered };
  }

  it("removes the earlier run's parts the rerun did not write, and says so on the rerun", async () => {
    const { fixture, run, delivered } = await setup();
    const first = await run();
    expect(first.files.map((f) => f.name)).toEqual(firstNames);
    expect(first.errors).toEqual([]);
    expect(delivered()).toEqual([...firstNames, manifest].sort());

    // An unchanged rerun writes the same names: nothing to remove, nothing said.
    const same = await run();
    expect(same.errors).toEqual([]);
    expect(delivered()).toEqual([...firstNames, manifest].sort());

    await shrinkAudience(fixture);
    const rerun = await run();
    expect(rerun.status).toBe("succeeded");
    expect(rerun.files.map((f) => f.name)).toEqual(["French-customers_20261120.csv"]);
    expect(delivered()).toEqual(["French-customers_20261120.csv", manifest]);
    expect(rerun.errors).toEqual([
      "removed 3 files of an earlier run for this scheduled time: French-customers_20261120_2.csv, French-customers_20261120_3.csv, French-customers_20261120_4.csv",
    ]);
    const written = JSON.parse(fs.readFileSync(path.join(root, "out", manifest), "utf8")) as {
      files: { name: string }[];
    };
    expect(written.files.map((f) => f.name)).toEqual(["French-customers_20261120.csv"]);
  });

  it("leaves a file it cannot remove, succeeds, and records a warning naming it", async () => {
    const { fixture, run, delivered } = await setup();
    await run();
    // Someone replaced part 3 by a folder of their own: deleting it fails.
    const third = path.join(root, "out", "French-customers_20261120_3.csv");
    fs.rmSync(third);
    fs.mkdirSync(third);
    fs.writeFileSync(path.join(third, "theirs.txt"), "x");
    await shrinkAudience(fixture);
    const rerun = await run();
    expect(rerun.status).toBe("succeeded");
    expect(delivered()).toEqual([
      "French-customers_20261120.csv",
      "French-customers_20261120_3.csv",
      manifest,
    ]);
    expect(rerun.errors).toEqual([
      "removed 2 files of an earlier run for this scheduled time: French-customers_20261120_2.csv, French-customers_20261120_4.csv",
      expect.stringMatching(
        /^warning: could not remove French-customers_20261120_3\.csv, written by an earlier run for this scheduled time and not by this one: /,
      ),
    ]);
    expect(warn).toHaveBeenCalledWith(
      expect.objectContaining({ file: "French-customers_20261120_3.csv" }),
      expect.stringContaining("could not remove French-customers_20261120_3.csv"),
    );
  });
});

describe("a rerun over a shrunk audience, Amazon S3 (s3rver)", () => {
  let s3: S3rverServer;
  let fixture: Fixture;
  beforeAll(async () => {
    s3 = await startS3rver();
    fixture = await activationFixture("duckdb");
  });
  afterAll(async () => {
    await fixture?.store.close();
    await s3?.stop();
  });

  it("leaves exactly the rerun's part and manifest in the bucket folder", async () => {
    const details = { bucket: s3.bucket, folderPath: "audiences/french" };
    const { accountId, run } = await dataflowTo(fixture.deps, {
      destinationId: "amazon-s3",
      connection: {
        accessKeyId: s3.accessKeyId,
        secretAccessKey: s3.secretAccessKey,
        region: s3.region,
        endpoint: s3.endpoint,
        forcePathStyle: true,
      },
      details,
    });
    const { definition, connection } = await openAccountConnection(fixture.deps, sandbox, accountId);
    if (definition.connector.kind !== "file") throw new Error("not a file destination");
    const session = await definition.connector.open(connection as never, details as never);
    try {
      const first = await run();
      expect(first.files.map((f) => f.name)).toEqual(firstNames);
      expect(await session.listFiles()).toEqual([...firstNames, manifest].sort());
      await shrinkAudience(fixture);
      const rerun = await run();
      expect(rerun.status).toBe("succeeded");
      expect(await session.listFiles()).toEqual(["French-customers_20261120.csv", manifest]);
      expect(rerun.errors).toEqual([
        "removed 3 files of an earlier run for this scheduled time: French-customers_20261120_2.csv, French-customers_20261120_3.csv, French-customers_20261120_4.csv",
      ]);
      // Deleting a file already gone is no error.
      await session.deleteFile("French-customers_20261120_2.csv");
    } finally {
      await session.close();
    }
  });
});
