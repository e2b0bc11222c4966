import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { httpConnector as connector, httpDestination } from "../../src/destinations/http/index.ts";
import {
  checkNewAccount,
  createAccount,
  listAccounts,
  openAccountConnection,
} from "../../src/destinations/index.ts";
import { DEFAULT_SANDBOX } from "../../src/store/index.ts";
import { type HttpRecorder, startHttpRecorder, tokenPath } from "../servers/http-recorder.ts";
import { accountDeps, errorOf, numberedRecords } from "./account-deps.ts";

let api: HttpRecorder;

const connection = (fields: Record<string, unknown> = {}) =>
  httpDestination.connectionSchema.parse({ url: `${api.url}/ingest`, ...fields });

/** The error of each record of one batch sent through a fresh session. */
async function recordErrors(conn: ReturnType<typeof connection>): Promise<string[]> {
  const session = await connector.open(conn, httpDestination.detailsSchema.parse({}));
  try {
    return (await session.sendBatch(numberedRecords(2, 2))).failed.map((f) => f.error);
  } finally {
    await session.close();
  }
}

/**
 * A 400 whose body echoes the request it answers, as some endpoints do: the recorder serializes a
 * scripted body when it answers, after recording the request, so `toJSON` reads that request.
 */
function answerWithEcho() {
  api.respondWith({
    status: 400,
    body: {
      toJSON: () => {
        const request = api.requests.at(-1);
        return {
          error: "invalid records",
          authorization: request?.headers.authorization,
          apiKey: request?.headers["x-api-key"],
          path: request?.path,
        };
      },
    },
  });
}

beforeAll(async () => {
  api = await startHttpRecorder();
});
afterAll(async () => {
  await api?.close();
});
beforeEach(() => {
  api.requests.length = 0;
  api.setAuth({ type: "none" });
});

describe("HTTP API: credentials in clear headers", () => {
  it("refuses credential headers in an account's headers, naming the field and never the value", async () => {
    const deps = await accountDeps([httpDestination]);
    try {
      for (const headers of [
        "Authorization:Bearer sk-live-0001",
        { "X-Api-Key": "sk-live-0001" },
        { "proxy-authorization": "Basic sk-live-0001" },
        { Cookie: "session=sk-live-0001" },
        { "Api-Key": "sk-live-0001" },
        { "X-Auth-Token": "sk-live-0001" },
        { "X-Client-Secret": "sk-live-0001" },
        { "X-Hub-Signature": "sk-live-0001" },
        { "X-Admin-Password": "sk-live-0001" },
        { "X-Partner-KEY": "sk-live-0001" },
      ]) {
        const error = await errorOf(
          createAccount(deps, DEFAULT_SANDBOX, {
            destinationId: "http-api",
            name: "webhook",
            connection: { url: `${api.url}/ingest`, headers },
          }),
        );
        const name = typeof headers === "string" ? "Authorization" : Object.keys(headers)[0];
        expect(error.kind).toBe("validation");
        expect(error.message).toContain(
          `connection.headers: '${name}' carries a credential: give it in secretHeaders, which is sealed`,
        );
        expect(error.message).not.toContain("sk-live-0001");
      }
      expect(await listAccounts(deps, DEFAULT_SANDBOX)).toEqual([]);
      expect(api.requests).toEqual([]);
    } finally {
      await deps.close();
    }
  });

  it("refuses them in a dataflow's details.headers too, and keeps ordinary and secret headers", async () => {
    const deps = await accountDeps([httpDestination]);
    try {
      const error = await errorOf(
        checkNewAccount(deps, DEFAULT_SANDBOX, {
          destinationId: "http-api",
          name: "webhook",
          connection: { url: `${api.url}/ingest` },
          details: { headers: { "X-Dataflow": "df-1", authorization: "Bearer sk-live-0002" } },
        }),
      );
      expect(error.message).toContain(
        "details.headers: 'authorization' carries a credential: give it in the account's secretHeaders, which is sealed",
      );
      expect(error.message).not.toContain("sk-live-0002");

      const account = await createAccount(deps, DEFAULT_SANDBOX, {
        destinationId: "http-api",
        name: "webhook",
        connection: {
          url: `${api.url}/ingest`,
          headers: { "X-Source": "herald", "X-Key-Id": "k1", "Content-Language": "en", "X-Tokens-Used": "3" },
          secretHeaders: { Authorization: "Bearer sk-live-0003", "X-Api-Key": "sk-live-0004" },
        },
      });
      expect(account.secretsSet).toEqual(["secretHeaders"]);
      expect(JSON.stringify(await listAccounts(deps, DEFAULT_SANDBOX))).not.toContain("sk-live");
      expect(api.requests[0]?.headers).toMatchObject({
        "x-source": "herald",
        authorization: "Bearer sk-live-0003",
        "x-api-key": "sk-live-0004",
      });
    } finally {
      await deps.close();
    }
  });
});

describe("HTTP API: secrets echoed in an answer", () => {
  it("redacts the token, secret headers and query values from a refused request's excerpt, keeping the rest", async () => {
    answerWithEcho();
    const errors = await recordErrors(
      connection({
        url: `${api.url}/ingest?api_key=qk-s3cret-123&region=eu`,
        authType: "bearer",
        token: "tok-s3cret-456",
        secretHeaders: { "X-Api-Key": "hk-s3cret-789" },
      }),
    );
    expect(errors).toHaveLength(2);
    expect(errors[0]).toBe(
      `${api.url}/ingest answered 400: ${JSON.stringify({
        error: "invalid records",
        authorization: "[redacted]",
        apiKey: "[redacted]",
        path: "/ingest?api_key=[redacted]&region=eu",
      })}`,
    );
  });

  it("redacts basic credentials, as sent in base64 and as a password", async () => {
    api.respondWith({ status: 422, body: { error: "unknown user herald with password pw-s3cret" } });
    answerWithEcho();
    const conn = connection({ authType: "basic", username: "herald", password: "pw-s3cret" });
    const errors = [...(await recordErrors(conn)), ...(await recordErrors(conn))];
    const base64 = Buffer.from("herald:pw-s3cret").toString("base64");
    expect(errors.join()).not.toContain("pw-s3cret");
    expect(errors.join()).not.toContain(base64);
    expect(errors[0]).toContain("unknown user herald with password [redacted]");
    expect(errors[2]).toContain('"authorization":"[redacted]"');
  });

  it("redacts an OAuth2 token", async () => {
    api.setAuth({ type: "oauth2", clientId: "client-1", clientSecret: "cs-s3cret" });
    answerWithEcho();
    const errors = await recordErrors(
      connection({
        authType: "oauth2",
        tokenUrl: `${api.url}${tokenPath}`,
        clientId: "client-1",
        clientSecret: "cs-s3cret",
      }),
    );
    const token = api.issuedTokens.at(-1) ?? "";
    expect(token).not.toBe("");
    expect(errors[0]).toContain('"authorization":"[redacted]"');
    expect(errors.join()).not.toContain(token);
  });
});

describe("HTTP API: webhook tokens in the path", () => {
  it("shows a Slack-like webhook URL with its token as …, sends to the full URL, and names it so in errors", async () => {
    const token = "q8KcV0lM3nZp7TbX2wRy5fHd";
    const url = `${api.url}/services/T0123ABCD/B0456EFGH/${token}`;
    const shown = `${api.url}/services/T0123ABCD/B0456EFGH/…`;
    const deps = await accountDeps([httpDestination]);
    try {
      const account = await createAccount(deps, DEFAULT_SANDBOX, {
        destinationId: "http-api",
        name: "slack",
        connection: { url },
      });
      expect(account.connection).toEqual({ url: shown });
      expect(JSON.stringify(await listAccounts(deps, DEFAULT_SANDBOX))).not.toContain(token);
      expect((await openAccountConnection(deps, DEFAULT_SANDBOX, account.id)).connection.url).toBe(url);
      expect(api.requests[0]?.path).toBe(`/services/T0123ABCD/B0456EFGH/${token}`);

      api.respondWith({ status: 500 });
      expect((await errorOf(connector.validate(connection({ url }), {}))).message).toBe(
        `${shown} answered 500`,
      );
      answerWithEcho();
      const errors = await recordErrors(connection({ url }));
      expect(errors[0]).toContain(`${shown} answered 400: `);
      expect(errors[0]).toContain('"path":"/services/T0123ABCD/B0456EFGH/[redacted]"');
      expect(errors.join()).not.toContain(token);
    } finally {
      await deps.close();
    }
  });
});
