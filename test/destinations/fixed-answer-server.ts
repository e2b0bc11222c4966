import http from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import type { FileSession } from "../../src/destinations/index.ts";

/**
 * A loopback HTTP server answering every request with the answer set last, for the errors a cloud
 * store may give that its emulator never does:
 *
 *   const server = await startFixedAnswerServer();
 *   server.answer(400, { "x-ms-error-code": "InvalidHeaderValue" }, "<Error>...</Error>");
 *   const error = await uploadFailure(() => connector.open(connectionFor(server.url), details));
 */
export interface FixedAnswerServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  answer(status: number, headers: Record<string, string>, body: string): void;
  stop(): Promise<void>;
}

export async function startFixedAnswerServer(): Promise<FixedAnswerServer> {
  let current = { status: 500, headers: {} as Record<string, string>, body: "" };
  const server = http.createServer((request, response) => {
    request.resume();
    request.on("end", () => response.writeHead(current.status, current.headers).end(current.body));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    answer(status, headers, body) {
      current = { status, headers, body };
    },
    async stop() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

/** The error a small upload through a new session fails with (undefined if it succeeds). */
export async function uploadFailure(open: () => Promise<FileSession>): Promise<unknown> {
  const session = await open();
  try {
    return await session.putFile("a.csv", Readable.from(["id\n1\n"])).then(
      () => undefined,
      (error: unknown) => error,
    );
  } finally {
    await session.close();
  }
}
