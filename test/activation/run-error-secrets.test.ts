import os from "node:os";
import { afterEach, describe, expect, it } from "vitest";
import { createDataflow, getRun, runSegmentExport } from "../../src/activation/index.ts";
import {
  createAccount,
  createCatalog,
  type DestinationDefinition,
  type FileConnector,
} from "../../src/destinations/index.ts";
import { localDestination } from "../../src/destinations/local/index.ts";
import type { Store } from "../../src/store/index.ts";
import { activationFixture, dataflowFor, FRENCH, sandbox } from "../support/activation.ts";

/** The local folder, failing to open as a library would, with `error`. */
function localFolderFailingWith(error: Error): DestinationDefinition {
  const connector = localDestination.connector as FileConnector<unknown, unknown>;
  return {
    ...(localDestination as DestinationDefinition),
    connector: { ...connector, open: (): Promise<never> => Promise.reject(error) },
  };
}

/** A run records a library's error by its message, never the credentials the library put in it. */
describe("run records of a library's error", () => {
  let store: Store | undefined;
  afterEach(() => store?.close());

  async function failedRun(error: Error) {
    const base = await activationFixture("duckdb", 20);
    store = base.store;
    const deps = { ...base.deps, catalog: createCatalog([localFolderFailingWith(error)]) };
    // Any folder passes the account's check: the run never writes (open fails).
    const account = await createAccount(deps, sandbox, {
      destinationId: "local",
      name: "pickup",
      connection: { root: os.tmpdir() },
    });
    const dataflow = await createDataflow(deps, sandbox, dataflowFor(account.id));
    const finished = await runSegmentExport(deps, sandbox, {
      dataflowId: dataflow.id,
      segmentId: FRENCH,
      trigger: "manual",
      scheduledFor: new Date("2026-11-20T05:00:00Z"),
    });
    expect(finished.status).toBe("failed");
    // As GET /v1/runs/{id} reads it back from the store.
    return JSON.stringify(await getRun(store, sandbox, finished.id));
  }

  it("keeps a URL's host and path, not its user, password or SAS query", async () => {
    const record = await failedRun(
      new Error(
        "PUT https://herald:pa55w0rd@acct.blob.core.windows.net/box/men.csv?sv=2024-11-04&sig=s3cr3tS1g%3D&se=2026 failed: 403",
      ),
    );
    expect(record).toContain("https://acct.blob.core.windows.net/box/men.csv?…");
    for (const secret of ["herald:", "pa55w0rd", "sv=2024", "s3cr3tS1g", "se=2026"]) {
      expect(record).not.toContain(secret);
    }
  });

  it("keeps an Azure connection string's endpoint, not its keys", async () => {
    const record = await failedRun(
      new Error(
        "Cannot connect with Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=Root;SharedAccessKey=kEy+Secret/1=; AccountName=acct;AccountKey=QWNjb3VudEtleQ==",
      ),
    );
    expect(record).toContain("sb://ns.servicebus.windows.net/");
    expect(record).toContain("AccountName=acct");
    for (const secret of ["kEy+Secret", "QWNjb3VudEtleQ"]) expect(record).not.toContain(secret);
  });
});
