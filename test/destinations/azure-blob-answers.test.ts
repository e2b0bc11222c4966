import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { azureFailure } from "../../src/destinations/azure-blob/client.ts";
import { azureBlobDestination } from "../../src/destinations/azure-blob/index.ts";
import type { AzureBlobConnection, AzureBlobDetails } from "../../src/destinations/azure-blob/schemas.ts";
import type { FileConnector } from "../../src/destinations/index.ts";
import { HeraldError, isRetryable } from "../../src/errors/index.ts";
import { type FixedAnswerServer, startFixedAnswerServer, uploadFailure } from "./fixed-answer-server.ts";

/*
 * How the Azure Blob connector classes the answers a storage account may give to an upload that
 * Azurite never gives, against a loopback server answering every request with one Azure error
 * (status and x-ms-error-code). A lasting error classed as retryable costs minutes of retries.
 */

let server: FixedAnswerServer;
beforeAll(async () => {
  server = await startFixedAnswerServer();
});
afterAll(async () => {
  await server?.stop();
});

const connector = azureBlobDestination.connector as FileConnector<AzureBlobConnection, AzureBlobDetails>;

function azureAnswer(status: number, code: string): Promise<unknown> {
  server.answer(
    status,
    { "content-type": "application/xml", "x-ms-error-code": code },
    `<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${code} (test answer)\nRequestId:1</Message></Error>`,
  );
  const sasUrl = `${server.url}/devstoreaccount1/audiences?sv=2023-01-03&sp=rwl&sig=c2VjcmV0LXNpZ25hdHVyZQ%3D%3D`;
  return uploadFailure(() => connector.open({ sasUrl }, { container: "audiences", folderPath: "exports" }));
}

describe("Azure Blob answers to an upload", () => {
  it.each([
    { status: 400, code: "InvalidHeaderValue", kind: "validation", field: "details.container" },
    { status: 400, code: "InvalidResourceName", kind: "validation", field: "details.folderPath" },
    { status: 412, code: "LeaseIdMissing", kind: "validation", field: "details.container" },
    { status: 501, code: "NotImplemented", kind: "validation", field: "connection.sasUrl" },
  ])("$status $code is $kind, naming the container and blob", async ({ status, code, kind, field }) => {
    const error = await azureAnswer(status, code);
    expect(error).toBeInstanceOf(HeraldError);
    const failure = error as HeraldError;
    expect(failure.kind).toBe(kind);
    expect(isRetryable(failure)).toBe(false);
    expect(failure.message).toContain("'a.csv' to container 'audiences' folder 'exports'");
    expect(failure.message).not.toContain("c2VjcmV0");
    expect(failure.issues.map((issue) => issue.field)).toEqual([field]);
    expect(failure.message).toContain(field);
  });

  it("wraps a failure that is no Azure answer as internal, naming container and blob", () => {
    const cause = new TypeError("Cannot read properties of undefined (reading 'blockId')");
    const error = azureFailure(cause, {
      container: "audiences",
      endpoint: "https://acme.blob.core.windows.net",
      credential: "sasUrl",
      action: "writing 'a.csv' to container 'audiences'",
    });
    expect(error).toBeInstanceOf(HeraldError);
    expect((error as HeraldError).kind).toBe("internal");
    expect((error as HeraldError).message).toContain("writing 'a.csv' to container 'audiences'");
    expect((error as HeraldError).message).toContain("reading 'blockId'");
    expect((error as HeraldError).cause).toBe(cause);
  });
});
