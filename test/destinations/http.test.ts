import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import {
  httpConnector as connector,
  httpDestination,
  parseRetryAfter,
} from "../../src/destinations/http/index.ts";
import {
  createAccount,
  listAccounts,
  type OutboundRecord,
  openAccountConnection,
} from "../../src/destinations/index.ts";
import { DEFAULT_SANDBOX } from "../../src/store/index.ts";
import { type HttpRecorder, startHttpRecorder, tokenPath } from "../servers/http-recorder.ts";
import { freePort } from "../support/postgres-cluster.ts";
import { accountDeps, errorOf, messageOf, numberedRecords } from "./account-deps.ts";

let api: HttpRecorder;

/** A connection as the schema parses it (defaults applied), from the given fields. */
const connection = (fields: Record<string, unknown> = {}) =>
  httpDestination.connectionSchema.parse({ url: `${api.url}/ingest`, ...fields });
const details = (fields: Record<string, unknown> = {}) => httpDestination.detailsSchema.parse(fields);

async function send(conn: ReturnType<typeof connection>, batch: OutboundRecord[], det = details()) {
  const session = await connector.open(conn, det);
  try {
    return await session.sendBatch(batch);
  } finally {
    await session.close();
  }
}

/** The error an account's creation fails with; the test fails if the account was saved anyway. */
async function refusedAccount(fields: Record<string, unknown>) {
  const deps = await accountDeps([httpDestination]);
  try {
    const error = await errorOf(
      createAccount(deps, DEFAULT_SANDBOX, {
        destinationId: "http-api",
        name: "webhook",
        connection: fields,
      }),
    );
    expect(await listAccounts(deps, DEFAULT_SANDBOX)).toEqual([]);
    return error;
  } finally {
    await deps.close();
  }
}

beforeAll(async () => {
  api = await startHttpRecorder();
});
afterAll(async () => {
  await api?.close();
});
beforeEach(() => {
  api.requests.length = 0;
  api.tokenRequests.length = 0;
  api.setAuth({ type: "none" });
});

describe("HTTP API: validation", () => {
  it("creates an account after an empty batch is accepted, sending nothing else", async () => {
    api.setAuth({ type: "basic", username: "herald", password: "s3cret pass" });
    const deps = await accountDeps([httpDestination]);
    try {
      const account = await createAccount(deps, DEFAULT_SANDBOX, {
        destinationId: "http-api",
        name: "webhook",
        connection: {
          url: `${api.url}/ingest`,
          authType: "basic",
          username: "herald",
          password: "s3cret pass",
          headers: "X-Source:herald,X-Team:crm",
          secretHeaders: { "X-Api-Key": "k-123" },
        },
      });
      expect(account.secretsSet.sort()).toEqual(["password", "secretHeaders"]);
      expect(account.connection).toMatchObject({
        url: `${api.url}/ingest`,
        authType: "basic",
        username: "herald",
        headers: { "X-Source": "herald", "X-Team": "crm" },
      });
      expect(JSON.stringify(account)).not.toContain("s3cret");
      expect(JSON.stringify(account)).not.toContain("k-123");
      expect(api.requests).toHaveLength(1);
      expect(api.requests[0]).toMatchObject({ method: "POST", path: "/ingest", body: { records: [] } });
      expect(api.requests[0]?.headers["x-api-key"]).toBe("k-123");
    } finally {
      await deps.close();
    }
  });

  it("refuses wrong basic credentials and saves no account", async () => {
    api.setAuth({ type: "basic", username: "herald", password: "right" });
    const error = await refusedAccount({
      url: `${api.url}/ingest`,
      authType: "basic",
      username: "herald",
      password: "wrong",
    });
    expect(error).toMatchObject({ kind: "auth_failed", code: "http_auth_failed" });
    expect(error.message).toContain("answered 401");
  });

  it("refuses an endpoint answering 403 as forbidden, naming the URL without its query, and saves no account", async () => {
    api.respondWith({ status: 403, body: { error: "insufficient_scope" } });
    const error = await refusedAccount({
      url: `${api.url}/ingest?api_key=s3cret`,
      authType: "bearer",
      token: "tok-1",
    });
    expect(error).toMatchObject({
      kind: "forbidden",
      code: "http_forbidden",
      message: `${api.url}/ingest answered 403: the credentials may not send here`,
    });
    expect(api.requests).toHaveLength(1);
  });

  it("refuses a wrong bearer token", async () => {
    api.setAuth({ type: "bearer", token: "tok-right" });
    await connector.validate(connection({ authType: "bearer", token: "tok-right" }), details());
    const error = await errorOf(
      connector.validate(connection({ authType: "bearer", token: "tok-wrong" }), details()),
    );
    expect(error.kind).toBe("auth_failed");
  });

  it("fetches an OAuth2 token to validate, and names the client when the token endpoint refuses", async () => {
    api.setAuth({
      type: "oauth2",
      clientId: "herald-client",
      clientSecret: "cs-1",
      scope: "audiences.write",
    });
    const oauth = {
      authType: "oauth2",
      tokenUrl: `${api.url}${tokenPath}`,
      clientId: "herald-client",
      scope: "audiences.write",
    };
    const deps = await accountDeps([httpDestination]);
    try {
      const account = await createAccount(deps, DEFAULT_SANDBOX, {
        destinationId: "http-api",
        name: "oauth",
        connection: { url: `${api.url}/ingest`, ...oauth, clientSecret: "cs-1" },
      });
      expect(account.secretsSet).toEqual(["clientSecret"]);
      expect(api.tokenRequests).toHaveLength(1);
      expect(api.tokenRequests[0]?.body).toEqual({
        grant_type: "client_credentials",
        scope: "audiences.write",
      });
      expect(api.tokenRequests[0]?.headers.authorization).toBe(
        `Basic ${Buffer.from("herald-client:cs-1").toString("base64")}`,
      );
      expect(api.requests[0]?.headers.authorization).toBe(`Bearer ${api.issuedTokens.at(-1)}`);
      const error = await errorOf(
        connector.validate(connection({ ...oauth, clientSecret: "cs-wrong" }), details()),
      );
      expect(error).toMatchObject({ kind: "auth_failed", code: "oauth_token_refused" });
      expect(error.message).toContain("'herald-client'");
      expect(error.message).toContain("invalid_client");
      expect(error.message).not.toContain("cs-wrong");
    } finally {
      await deps.close();
    }
  });

  it("sends the client credentials in the form body when asked to", async () => {
    api.setAuth({ type: "oauth2", clientId: "c-body", clientSecret: "s-body" });
    await connector.validate(
      connection({
        authType: "oauth2",
        tokenUrl: `${api.url}${tokenPath}`,
        clientId: "c-body",
        clientSecret: "s-body",
        clientAuthentication: "body",
      }),
      details(),
    );
    expect(api.tokenRequests[0]?.body).toEqual({
      grant_type: "client_credentials",
      client_id: "c-body",
      client_secret: "s-body",
    });
    expect(api.tokenRequests[0]?.headers.authorization).toBeUndefined();
  });

  it("names a 404, a 405, a redirect and a 5xx", async () => {
    for (const [status, kind, headers] of [
      [404, "not_found", {}],
      [405, "validation", {}],
      [302, "validation", { location: "https://elsewhere.example/ingest" }],
      [503, "unavailable", {}],
    ] as const) {
      api.respondWith({ status, headers });
      const error = await errorOf(connector.validate(connection(), details()));
      expect(error.kind, String(status)).toBe(kind);
      expect(error.message).toContain(`answered ${status}`);
    }
  });

  it("accepts an endpoint that answers an empty batch with a content error (it took the credentials)", async () => {
    api.respondWith({ status: 422, body: { error: "records must not be empty" } });
    await connector.validate(connection(), details());
  });

  it("reports a closed port, an unknown host and a slow endpoint as unavailable", async () => {
    const port = await freePort();
    const refused = await errorOf(
      connector.validate(connection({ url: `http://127.0.0.1:${port}/x` }), details()),
    );
    expect(refused).toMatchObject({ kind: "unavailable", code: "http_unreachable" });
    expect(refused.message).toContain("ECONNREFUSED");
    const unknown = await errorOf(
      connector.validate(connection({ url: "http://no-such-host.invalid/x" }), details()),
    );
    expect(unknown).toMatchObject({ kind: "unavailable", code: "http_unreachable" });
    api.respondWith({ status: 200, delayMs: 2500 });
    const slow = await errorOf(connector.validate(connection({ timeoutSeconds: 1 }), details()));
    expect(slow).toMatchObject({ kind: "unavailable", code: "http_unreachable" });
    expect(slow.message).toContain("no answer in time");
  });

  it("checks the fields of the chosen authentication", () => {
    const schema = httpDestination.connectionSchema;
    expect(schema.safeParse({ url: api.url, authType: "basic", username: "u" }).success).toBe(false);
    expect(
      schema.safeParse({ url: api.url, authType: "oauth2", clientId: "c", clientSecret: "s" }).success,
    ).toBe(false);
    expect(schema.safeParse({ url: "ftp://example.com" }).success).toBe(false);
    expect(schema.safeParse({ url: api.url, headers: "Bad Header:x" }).success).toBe(false);
    expect(httpDestination.detailsSchema.safeParse({ batchSize: 10_001 }).success).toBe(false);
    expect(httpDestination.detailsSchema.parse({})).toEqual({});
  });
});

describe("HTTP API: secrets in URLs", () => {
  it("seals a URL's query: the account shows it hidden, requests carry it, no error message shows it", async () => {
    const deps = await accountDeps([httpDestination]);
    try {
      const account = await createAccount(deps, DEFAULT_SANDBOX, {
        destinationId: "http-api",
        name: "keyed",
        connection: { url: `${api.url}/ingest?api_key=s3cret` },
      });
      expect(account.connection).toEqual({ url: `${api.url}/ingest?…` });
      expect(account.secretsSet).toEqual([]);
      expect(JSON.stringify(await listAccounts(deps, DEFAULT_SANDBOX))).not.toContain("s3cret");
      expect(api.requests[0]?.path).toBe("/ingest?api_key=s3cret");
      const stored = (await openAccountConnection(deps, DEFAULT_SANDBOX, account.id)).connection;
      expect(stored.url).toBe(`${api.url}/ingest?api_key=s3cret`);

      const keyed = connection({ url: stored.url });
      api.respondWith({ status: 500 });
      api.respondWith({ status: 302, headers: { location: "/moved?api_key=s3cret" } });
      api.respondWith({ status: 400, body: "bad" });
      const failures = [
        await errorOf(connector.validate(keyed, details())),
        await errorOf(connector.validate(keyed, details())),
        { message: (await send(keyed, numberedRecords(1, 1))).failed[0]?.error ?? "" },
      ];
      await api.stop();
      failures.push(await errorOf(connector.validate(keyed, details())));
      await api.start();
      expect(failures.map((f) => f.message)).toEqual([
        `${api.url}/ingest answered 500`,
        `${api.url}/ingest answered 302, a redirect to ${api.url}/moved: configure the final URL`,
        `${api.url}/ingest answered 400: bad`,
        // The kept-alive socket's reset or ECONNREFUSED, depending on timing.
        expect.stringContaining(`Cannot reach ${api.url}/ingest (`),
      ]);
      expect(failures.map((f) => f.message).join()).not.toContain("s3cret");
    } finally {
      await deps.close();
    }
  });

  it("names an OAuth2 token URL without its query when the token endpoint refuses", async () => {
    api.setAuth({ type: "oauth2", clientId: "c", clientSecret: "right" });
    const error = await errorOf(
      connector.validate(
        connection({
          authType: "oauth2",
          tokenUrl: `${api.url}${tokenPath}?tenant_key=s3cret`,
          clientId: "c",
          clientSecret: "wrong",
        }),
        details(),
      ),
    );
    expect(error.code).toBe("oauth_token_refused");
    expect(error.message).toContain(`${api.url}${tokenPath} gave no token`);
    expect(error.message).not.toContain("s3cret");
  });

  it("refuses a URL or a token URL holding user:password@, naming the field and the fields to use", async () => {
    const host = api.url.replace("http://", "");
    for (const [fields, field, instead] of [
      [{ url: `http://alice:pw-hunter2@${host}/ingest` }, "connection.url", "authType basic"],
      [
        {
          url: `${api.url}/ingest`,
          authType: "oauth2",
          tokenUrl: `http://alice:pw-hunter2@${host}${tokenPath}`,
          clientId: "c",
          clientSecret: "s",
        },
        "connection.tokenUrl",
        "clientId and clientSecret",
      ],
    ] as const) {
      const error = await refusedAccount(fields);
      expect(error.kind).toBe("validation");
      expect(error.message).toContain(`${field}: must not hold a user name or password`);
      expect(error.message).toContain(instead);
      expect(error.message).not.toContain("hunter2");
    }
    expect(api.requests).toEqual([]);
  });
});

describe("HTTP API: delivery", () => {
  it("posts {records: [...]} in requests of batchSize, in order, to the dataflow's path with every header", async () => {
    const batch = numberedRecords(250, 7);
    const result = await send(
      connection({ method: "PUT", headers: { "X-Source": "herald" }, secretHeaders: { "X-Api-Key": "k-1" } }),
      batch,
      details({ batchSize: 100, path: "/audiences/vip", headers: { "X-Dataflow": "df-1" } }),
    );
    expect(result.failed).toEqual([]);
    expect(
      api.requests.map((r) => [r.method, r.path, (r.body as { records: unknown[] }).records.length]),
    ).toEqual([
      ["PUT", "/ingest/audiences/vip", 100],
      ["PUT", "/ingest/audiences/vip", 100],
      ["PUT", "/ingest/audiences/vip", 50],
    ]);
    expect(api.requests.flatMap((r) => (r.body as { records: unknown[] }).records)).toEqual(
      batch.map(messageOf),
    );
    for (const r of api.requests) {
      expect(r.headers).toMatchObject({
        "content-type": "application/json",
        "x-source": "herald",
        "x-api-key": "k-1",
        "x-dataflow": "df-1",
      });
    }
  });

  it("rejects a 429 as rate_limited and exposes Retry-After (seconds or a date)", async () => {
    api.respondWith({ status: 429, headers: { "retry-after": "7" } });
    const error = await errorOf(send(connection(), numberedRecords(3, 3)));
    expect(error).toMatchObject({ kind: "rate_limited", code: "http_rate_limited", retryAfterMs: 7000 });
    const at = Date.now();
    expect(parseRetryAfter(new Date(at + 30_000).toUTCString(), at)).toBeGreaterThan(29_000);
    expect(parseRetryAfter("soon")).toBeUndefined();
    api.respondWith({ status: 429 });
    expect((await errorOf(send(connection(), numberedRecords(1, 1)))).retryAfterMs).toBeUndefined();
  });

  it("rejects a 5xx on the first request as unavailable; after a delivered request, reports the rest as retryable", async () => {
    api.respondWith({ status: 500 });
    expect((await errorOf(send(connection(), numberedRecords(5, 2)))).kind).toBe("unavailable");
    api.requests.length = 0;
    const batch = numberedRecords(30, 4);
    // The first request is answered 200, the second 502.
    api.respondWith({ status: 200 });
    api.respondWith({ status: 502 });
    const result = await send(connection(), batch, details({ batchSize: 10 }));
    expect(api.requests.length).toBe(2);
    expect(result.failed.map((f) => f.index)).toEqual(Array.from({ length: 20 }, (_, i) => i + 10));
    expect(result.failed.every((f) => f.retryable && f.error.includes("answered 502"))).toBe(true);
  });

  it("fails the records of a request refused for its content without retry, and sends the next request", async () => {
    api.respondWith({ status: 400, body: { error: "invalid email in records[2]" } });
    const result = await send(connection(), numberedRecords(6, 6), details({ batchSize: 3 }));
    expect(result.failed).toEqual(
      [0, 1, 2].map((index) => ({
        index,
        retryable: false,
        error: expect.stringContaining("invalid email in records[2]"),
      })),
    );
    expect(api.requests).toHaveLength(2);
  });

  it("rejects a 401 with fixed credentials as auth_failed", async () => {
    api.setAuth({ type: "bearer", token: "good" });
    const error = await errorOf(
      send(connection({ authType: "bearer", token: "revoked" }), numberedRecords(2, 1)),
    );
    expect(error).toMatchObject({ kind: "auth_failed", code: "http_auth_failed" });
  });

  it("keeps an OAuth2 token across batches, renews it on a 401 once, and before it expires", async () => {
    api.setAuth({ type: "oauth2", clientId: "c", clientSecret: "s", expiresInSeconds: 3600 });
    const conn = connection({
      authType: "oauth2",
      tokenUrl: `${api.url}${tokenPath}`,
      clientId: "c",
      clientSecret: "s",
    });
    const session = await connector.open(conn, details({ batchSize: 5 }));
    try {
      expect((await session.sendBatch(numberedRecords(20, 5))).failed).toEqual([]);
      expect(api.tokenRequests).toHaveLength(1);
      expect(api.requests).toHaveLength(4);
      api.revokeTokens();
      expect((await session.sendBatch(numberedRecords(5, 5))).failed).toEqual([]);
      expect(api.tokenRequests).toHaveLength(2);
      // The refused request and its resend with the new token.
      expect(api.requests.slice(4).map((r) => r.headers.authorization)).toEqual([
        `Bearer ${api.issuedTokens.at(-2)}`,
        `Bearer ${api.issuedTokens.at(-1)}`,
      ]);
      api.setAuth({ type: "oauth2", clientId: "c", clientSecret: "s", expiresInSeconds: 1 });
      api.revokeTokens();
      expect((await session.sendBatch(numberedRecords(1, 1))).failed).toEqual([]);
      const tokens = api.tokenRequests.length;
      await new Promise((r) => setTimeout(r, 700));
      expect((await session.sendBatch(numberedRecords(1, 1))).failed).toEqual([]);
      // A token that lives 1 s is renewed after half of it, without waiting for a 401.
      expect(api.tokenRequests.length).toBe(tokens + 1);
      expect(api.requests.at(-1)?.headers.authorization).toBe(`Bearer ${api.issuedTokens.at(-1)}`);
    } finally {
      await session.close();
    }
  });

  it("rejects as auth_failed when the renewed OAuth2 token is refused too", async () => {
    api.setAuth({ type: "oauth2", clientId: "c", clientSecret: "s" });
    const conn = connection({
      authType: "oauth2",
      tokenUrl: `${api.url}${tokenPath}`,
      clientId: "c",
      clientSecret: "s",
    });
    api.respondWith({ status: 401 }, 2);
    const error = await errorOf(send(conn, numberedRecords(2, 1)));
    expect(error.kind).toBe("auth_failed");
    expect(api.tokenRequests).toHaveLength(2);
  });

  it("reports the endpoint down as unavailable, and the same session delivers once it is back on its port", async () => {
    const session = await connector.open(connection(), details());
    try {
      await api.stop();
      expect((await errorOf(session.sendBatch(numberedRecords(2, 2)))).kind).toBe("unavailable");
      await api.start();
      expect((await session.sendBatch(numberedRecords(2, 2))).failed).toEqual([]);
      expect(api.requests).toHaveLength(1);
    } finally {
      await session.close();
    }
  });
});
