/**
 * An HTTP endpoint for tests of the HTTP destination (and of anything that delivers over HTTP): a
 * node:http server on a loopback port that records every request, checks credentials the way a
 * real API does (HTTP Basic, a static bearer token, or OAuth 2.0 client-credentials tokens it issues
 * itself at `/oauth/token`, RFC 6749 §4.4), and can be told to fail: answer a status (500, 429 with
 * Retry-After, 401, ...) to the next N requests, or go down and come back on the same port.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";

export interface RecordedRequest {
  method: string;
  path: string;
  headers: http.IncomingHttpHeaders;
  /** Parsed JSON when the body is JSON, the text otherwise, undefined when empty. */
  body: unknown;
  receivedAt: Date;
}

export type RecorderAuth =
  | { type: "none" }
  | { type: "basic"; username: string; password: string }
  | { type: "bearer"; token: string }
  | { type: "oauth2"; clientId: string; clientSecret: string; expiresInSeconds?: number; scope?: string };

export interface ScriptedResponse {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
  /** Wait this long before answering (timeouts). */
  delayMs?: number;
}

export interface HttpRecorder {
  /** Base URL, e.g. http://127.0.0.1:40123 */
  url: string;
  port: number;
  /** Requests to every path but the token endpoint, in arrival order. */
  requests: RecordedRequest[];
  /** Requests to `/oauth/token`. */
  tokenRequests: RecordedRequest[];
  /** Tokens issued so far; the last one is the currently valid one unless revoked. */
  issuedTokens: string[];
  /** The next `times` requests (token endpoint excluded) get this answer instead of 200. */
  respondWith(response: ScriptedResponse, times?: number): void;
  /** Every token issued so far stops being accepted (as when a token server rotates keys). */
  revokeTokens(): void;
  setAuth(auth: RecorderAuth): void;
  /** Closes the port and drops open connections; requests fail with ECONNREFUSED until `start`. */
  stop(): Promise<void>;
  /** Listens again on the same port. */
  start(): Promise<void>;
  close(): Promise<void>;
}

export const tokenPath = "/oauth/token";

function equal(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

function parseBody(raw: Buffer, contentType: string | undefined): unknown {
  if (!raw.length) return undefined;
  const text = raw.toString("utf8");
  if (contentType?.includes("application/x-www-form-urlencoded"))
    return Object.fromEntries(new URLSearchParams(text));
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function send(
  res: http.ServerResponse,
  status: number,
  body?: unknown,
  headers: Record<string, string> = {},
) {
  const text = body === undefined ? "" : typeof body === "string" ? body : JSON.stringify(body);
  res.writeHead(status, {
    ...(text ? { "content-type": typeof body === "string" ? "text/plain" : "application/json" } : {}),
    "content-length": String(Buffer.byteLength(text)),
    ...headers,
  });
  res.end(text);
}

/** Starts a recorder on a free loopback port (or the given one). */
export async function startHttpRecorder(
  options: { auth?: RecorderAuth; port?: number } = {},
): Promise<HttpRecorder> {
  let auth: RecorderAuth = options.auth ?? { type: "none" };
  const requests: RecordedRequest[] = [];
  const tokenRequests: RecordedRequest[] = [];
  const issuedTokens: string[] = [];
  const validTokens = new Map<string, number>();
  const script: ScriptedResponse[] = [];

  function clientOf(
    req: http.IncomingMessage,
    body: Record<string, string>,
  ): { id?: string; secret?: string } {
    const header = req.headers.authorization ?? "";
    if (header.startsWith("Basic ")) {
      const decoded = Buffer.from(header.slice(6), "base64").toString("utf8");
      const colon = decoded.indexOf(":");
      return {
        id: decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, " ")),
        secret: decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, " ")),
      };
    }
    return { id: body.client_id, secret: body.client_secret };
  }

  function issueToken(req: http.IncomingMessage, res: http.ServerResponse, body: unknown) {
    if (auth.type !== "oauth2") return send(res, 404, { error: "not_found" });
    const form = (body ?? {}) as Record<string, string>;
    if (form.grant_type !== "client_credentials") return send(res, 400, { error: "unsupported_grant_type" });
    const client = clientOf(req, form);
    if (
      !client.id ||
      !client.secret ||
      !equal(client.id, auth.clientId) ||
      !equal(client.secret, auth.clientSecret)
    )
      return send(res, 401, { error: "invalid_client", error_description: "Client authentication failed" });
    if (auth.scope && form.scope !== auth.scope) return send(res, 400, { error: "invalid_scope" });
    const token = randomBytes(16).toString("hex");
    const expiresIn = auth.expiresInSeconds ?? 3600;
    issuedTokens.push(token);
    validTokens.set(token, Date.now() + expiresIn * 1000);
    send(res, 200, { access_token: token, token_type: "Bearer", expires_in: expiresIn });
  }

  function authorized(req: http.IncomingMessage): boolean {
    const header = req.headers.authorization ?? "";
    switch (auth.type) {
      case "none":
        return true;
      case "basic":
        return equal(header, `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString("base64")}`);
      case "bearer":
        return equal(header, `Bearer ${auth.token}`);
      case "oauth2": {
        const expires = validTokens.get(header.replace(/^Bearer /, ""));
        return header.startsWith("Bearer ") && expires !== undefined && expires > Date.now();
      }
    }
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse) {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const path = req.url ?? "/";
    const recorded: RecordedRequest = {
      method: req.method ?? "",
      path,
      headers: req.headers,
      body: parseBody(Buffer.concat(chunks), req.headers["content-type"]),
      receivedAt: new Date(),
    };
    if (path === tokenPath && req.method === "POST") {
      tokenRequests.push(recorded);
      return issueToken(req, res, recorded.body);
    }
    requests.push(recorded);
    const scripted = script.shift();
    if (scripted) {
      if (scripted.delayMs) await new Promise((r) => setTimeout(r, scripted.delayMs));
      return send(res, scripted.status, scripted.body, scripted.headers);
    }
    if (!authorized(req)) {
      return send(
        res,
        401,
        { error: "unauthorized" },
        auth.type === "basic"
          ? { "www-authenticate": 'Basic realm="test"' }
          : { "www-authenticate": "Bearer" },
      );
    }
    send(res, 200, {
      accepted: Array.isArray((recorded.body as { records?: unknown[] })?.records)
        ? (recorded.body as { records: unknown[] }).records.length
        : 0,
    });
  }

  const server = http.createServer((req, res) => {
    handle(req, res).catch((error: unknown) => send(res, 500, { error: String(error) }));
  });
  const sockets = new Set<Socket>();
  server.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  let port = options.port ?? 0;
  const start = () =>
    new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => {
        server.off("error", reject);
        port = (server.address() as AddressInfo).port;
        resolve();
      });
    });
  const stop = () =>
    new Promise<void>((resolve) => {
      if (!server.listening) return resolve();
      for (const socket of sockets) socket.destroy();
      server.close(() => resolve());
    });
  await start();

  return {
    get url() {
      return `http://127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    requests,
    tokenRequests,
    issuedTokens,
    respondWith(response, times = 1) {
      for (let i = 0; i < times; i++) script.push(response);
    },
    revokeTokens() {
      validTokens.clear();
    },
    setAuth(next) {
      auth = next;
    },
    stop,
    start,
    close: stop,
  };
}
