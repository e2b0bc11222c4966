import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { FileConnector } from "../../src/destinations/index.ts";
import { s3Failure } from "../../src/destinations/s3/client.ts";
import { s3Destination } from "../../src/destinations/s3/index.ts";
import type { S3Connection, S3Details } from "../../src/destinations/s3/schemas.ts";
import { HeraldError, isRetryable } from "../../src/errors/index.ts";
import { type FixedAnswerServer, startFixedAnswerServer, uploadFailure } from "./fixed-answer-server.ts";

/*
 * How the S3 connector classes the answers an S3 store may give to an upload, against a loopback
 * server that answers every request with one S3 error (status and code), as S3 words them. What
 * is retried costs minutes when the error lasts, so only transient answers may be retryable.
 */

let server: FixedAnswerServer;
beforeAll(async () => {
  server = await startFixedAnswerServer();
});
afterAll(async () => {
  await server?.stop();
});

const connector = s3Destination.connector as FileConnector<S3Connection, S3Details>;

function s3Answer(status: number, code: string): Promise<unknown> {
  server.answer(
    status,
    { "content-type": "application/xml" },
    `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${code} (test answer)</Message></Error>`,
  );
  const connection = {
    accessKeyId: "AKIAEXAMPLE",
    secretAccessKey: "secret-never-shown",
    region: "us-east-1",
    endpoint: server.url,
    forcePathStyle: true,
  };
  return uploadFailure(() => connector.open(connection, { bucket: "acme-audiences", folderPath: "exports" }));
}

describe("S3 answers to an upload", () => {
  it.each([
    { status: 400, code: "InvalidArgument", kind: "validation", field: "details.bucket" },
    { status: 400, code: "KeyTooLongError", kind: "validation", field: "details.folderPath" },
    { status: 405, code: "MethodNotAllowed", kind: "validation", field: "details.bucket" },
    { status: 501, code: "NotImplemented", kind: "validation", field: "connection.endpoint" },
    { status: 400, code: "RequestTimeout", kind: "unavailable" },
    { status: 409, code: "OperationAborted", kind: "unavailable" },
    { status: 500, code: "InternalError", kind: "unavailable" },
  ])(
    "$status $code is $kind, naming the bucket and key",
    async ({ status, code, kind, field }) => {
      const error = await s3Answer(status, code);
      expect(error).toBeInstanceOf(HeraldError);
      const failure = error as HeraldError;
      expect(failure.kind).toBe(kind);
      expect(isRetryable(failure)).toBe(kind === "unavailable" || kind === "rate_limited");
      expect(failure.message).toContain("s3://acme-audiences/exports/a.csv");
      expect(failure.message).not.toContain("secret-never-shown");
      if (field) {
        expect(failure.issues.map((issue) => issue.field)).toEqual([field]);
        expect(failure.message).toContain(field);
      }
    },
    30_000,
  );

  it("wraps a failure with no answer and no known cause as internal, naming bucket and key", () => {
    const cause = new TypeError("Cannot read properties of undefined (reading 'ETag')");
    const error = s3Failure(cause, {
      connection: { accessKeyId: "AKIAEXAMPLE", secretAccessKey: "s", region: "eu-west-1" },
      bucket: "acme-audiences",
      action: "writing s3://acme-audiences/exports/a.csv",
    });
    expect(error).toBeInstanceOf(HeraldError);
    expect((error as HeraldError).kind).toBe("internal");
    expect((error as HeraldError).message).toContain("s3://acme-audiences/exports/a.csv");
    expect((error as HeraldError).message).toContain("reading 'ETag'");
    expect((error as HeraldError).cause).toBe(cause);
  });
});
