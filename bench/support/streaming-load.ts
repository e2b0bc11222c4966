/**
 * The streaming benchmark's outside world, in a worker thread of its own so that its work does not
 * run on Herald's event loop: the HTTP destination (timing each message's arrival) and the
 * client posting events at a fixed rate. bench/streaming.ts drives it with messages:
 *
 *   → {kind: "load", url, ...}   post the events; ← {kind: "loaded", ...} with what was sent when
 *   → {kind: "reset"}            forget what the destination received (after the baseline)
 *   → {kind: "collect"}          ← {kind: "collected", arrivals} what the destination received
 *   → {kind: "close"}
 *
 * On start it posts {kind: "ready", url} with the destination's address.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { parentPort } from "node:worker_threads";

export interface LoadRequest {
  kind: "load";
  /** Herald's API address. */
  url: string;
  profiles: number;
  rate: number;
  seconds: number;
  batch: number;
  maxInFlight: number;
  /** The first event's number in the client's sequence (which picks each event's profile). */
  firstEvent: number;
}

export type LoadMessage = LoadRequest | { kind: "reset" } | { kind: "collect" } | { kind: "close" };

export type LoadReply =
  | { kind: "ready"; url: string }
  | {
      kind: "loaded";
      acknowledged: number;
      failedRequests: number;
      seconds: number;
      /** Each request's round trip, ms. */
      requestLatency: number[];
      /** Profile → when the client sent its purchase (epoch ms). */
      sentAt: [string, number][];
    }
  | { kind: "collected"; arrivals: { profileId: string; arrivedAt: number }[]; requests: number };

const port = parentPort;
if (!port) throw new Error("bench/support/streaming-load.ts runs as a worker thread");
const reply = (message: LoadReply) => port.postMessage(message);

/**
 * The destination: answers 200 to every POST and keeps, of the messages posted to /audiences, only
 * each one's profile id and arrival time: all the latency needs. Keeping whole bodies (as the tests'
 * recorder does) grew this thread's heap, which it shares with the client, to ~140 MB over a run.
 */
const arrivals: { profileId: string; arrivedAt: number }[] = [];
/** Requests received at /audiences: how Herald's dispatcher batched the messages. */
let requests = 0;
const destination = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on("data", (chunk: Buffer) => chunks.push(chunk));
  req.on("end", () => {
    const arrivedAt = Date.now();
    if (req.url?.startsWith("/audiences")) {
      requests++;
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
        records?: { profileId: string }[];
      };
      for (const m of body.records ?? []) arrivals.push({ profileId: m.profileId, arrivedAt });
    }
    res.writeHead(200, { "content-type": "application/json", "content-length": "2" });
    res.end("{}");
  });
});
await new Promise<void>((resolve) => destination.listen(0, "127.0.0.1", resolve));
const destinationUrl = `http://127.0.0.1:${(destination.address() as AddressInfo).port}`;

async function load(request: LoadRequest) {
  const { url, profiles, rate, seconds, batch, maxInFlight, firstEvent } = request;
  const sentAt = new Map<string, number>();
  const requestLatency: number[] = [];
  let acknowledged = 0;
  let failedRequests = 0;
  const intervalMs = (1000 * batch) / rate;
  const total = rate * seconds;
  const started = performance.now();
  // node:http with kept-alive connections: fetch's per-request machinery cost this thread (which
  // shares the two cores with Herald) about twice the CPU.
  const agent = new http.Agent({ keepAlive: true, maxSockets: maxInFlight });
  const target = new URL("/v1/events", url);
  let inFlight = 0;
  let slotFreed: (() => void) | undefined;
  let allAnswered: (() => void) | undefined;
  const post = (body: string, done: (ok: boolean) => void) => {
    const req = http.request(
      target,
      {
        method: "POST",
        agent,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
      },
      (response) => {
        response.resume();
        response.on("end", () => done(response.statusCode === 200));
      },
    );
    req.on("error", () => done(false));
    req.end(body);
  };
  let seq = firstEvent;
  for (let sent = 0; sent < total; sent += batch) {
    const due = started + (sent / batch) * intervalMs;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    // A client does not open connections without end: past this many unanswered requests it waits,
    // and the rate it reaches is what the throughput line reports.
    while (inFlight >= maxInFlight) await new Promise<void>((resolve) => (slotFreed = resolve));
    const events = Array.from({ length: batch }, () => {
      const n = seq++;
      // A scattered profile id per event; 30% purchases (which realize), 70% page views.
      const profile = `p${(n * 7919) % profiles}`;
      const purchase = n % 10 < 3;
      return {
        type: purchase ? "commerce.purchases" : "web.pageView",
        timestamp: new Date().toISOString(),
        identity: { email: profile },
        properties: purchase ? { priceTotal: 20 } : { page: "home" },
      };
    });
    const sendTime = Date.now();
    // A profile's first purchase realizes it; a later one (fewer profiles than events) changes nothing.
    for (const e of events)
      if (e.type === "commerce.purchases" && !sentAt.has(e.identity.email))
        sentAt.set(e.identity.email, sendTime);
    inFlight++;
    post(JSON.stringify(events), (ok) => {
      if (ok) acknowledged += batch;
      else failedRequests++;
      requestLatency.push(Date.now() - sendTime);
      inFlight--;
      slotFreed?.();
      slotFreed = undefined;
      if (inFlight === 0) allAnswered?.();
    });
  }
  if (inFlight > 0) await new Promise<void>((resolve) => (allAnswered = resolve));
  agent.destroy();
  reply({
    kind: "loaded",
    acknowledged,
    failedRequests,
    seconds: (performance.now() - started) / 1000,
    requestLatency,
    sentAt: [...sentAt],
  });
}

port.on("message", (message: LoadMessage) => {
  switch (message.kind) {
    case "load":
      void load(message);
      break;
    case "reset":
      arrivals.length = 0;
      requests = 0;
      break;
    case "collect":
      reply({ kind: "collected", arrivals, requests });
      break;
    case "close":
      destination.closeAllConnections();
      destination.close(() => port.close());
      break;
  }
});
reply({ kind: "ready", url: destinationUrl });
