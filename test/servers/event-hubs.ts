/**
 * Azure Event Hubs for tests. No Event Hubs emulator runs here (Microsoft's needs Docker and
 * Azurite), so this is a small AMQP 1.0 endpoint, built on rhea, speaking the part of the Event
 * Hubs protocol that the official SDK (@azure/event-hubs through @azure/core-amqp) uses to publish:
 *
 * - Plain AMQP 1.0 over TCP, as the SDK talks to the emulator when the connection string says
 *   `UseDevelopmentEmulator=true` (the SDK then uses TCP instead of TLS, on the endpoint's port).
 *   SASL ANONYMOUS or PLAIN, as the SDK offers (it sends the key name as user name, no password).
 * - Claims-based security on `$cbs`: `put-token` requests carrying a SAS token
 *   (`SharedAccessSignature sr=…&sig=…&se=…&skn=…`). The signature is recomputed with the
 *   configured key (HMAC-SHA256 of the URL-encoded resource URI, a newline and the expiry), the
 *   expiry and the resource are checked: a wrong key → 401, an unknown event hub → 404, as the
 *   service answers. Links to a hub are refused unless a claim covers them.
 *   AMQP CBS draft: https://groups.oasis-open.org/higherlogic/ws/public/document?document_id=62097
 *   SAS tokens: https://learn.microsoft.com/azure/event-hubs/authenticate-shared-access-signature
 * - The management node `$management`: `READ` of `com.microsoft:eventhub` (name, created_at,
 *   partition_count, partition_ids) and of `com.microsoft:partition`.
 *   https://learn.microsoft.com/azure/event-hubs/event-hubs-amqp-troubleshoot and
 *   https://learn.microsoft.com/azure/service-bus-messaging/service-bus-amqp-request-response
 *   (Event Hubs' runtime-information requests follow the same request/response pattern).
 * - Sender links to `<hub>` and `<hub>/Partitions/<n>`: batched transfers (message format
 *   0x80013700, one data section per encoded event) and single messages. A message sent to the hub
 *   with the `x-opt-partition-key` annotation lands on the partition the service's hash picks
 *   (the SDK's own implementation of it); without a key, partitions take turns.
 *   https://learn.microsoft.com/azure/event-hubs/event-hubs-features#publishing-an-event
 *
 * What it does not do: receiving (consumer links), idempotent publishing, geo-replication, TLS.
 * Tests read what arrived from `messages`.
 */
import { createHmac, timingSafeEqual } from "node:crypto";
import type { Server, Socket } from "node:net";
import rhea, { type AmqpError, type EventContext, type Message, type Sender } from "rhea";
import { mapPartitionKeyToId } from "../../node_modules/@azure/event-hubs/dist/esm/impl/partitionKeyToIdMapper.js";

export interface ReceivedEvent {
  hub: string;
  partition: string;
  /** The `x-opt-partition-key` annotation, when the sender set one. */
  partitionKey?: string;
  /** The event body: parsed JSON when it is JSON text, else the raw text. */
  body: unknown;
  contentType?: string;
  properties?: Record<string, unknown>;
  /** Which transfer the event came in: events of one `sendBatch` share it. */
  transfer: number;
}

export interface SharedAccessKey {
  name: string;
  key: string;
  /** Limits the key to one event hub (an entity-level policy); namespace-wide when absent. */
  hub?: string;
  /** The policy's claims; all three when absent. Publishing needs `Send`. */
  rights?: ("Send" | "Listen" | "Manage")[];
}

export interface EventHubsTestServer {
  /** `host:port`, the "fully qualified namespace" to give the SDK. */
  namespace: string;
  port: number;
  /** A connection string for the first key, with `UseDevelopmentEmulator=true`. */
  connectionString(keyName?: string): string;
  messages: ReceivedEvent[];
  /** Transfers received per hub (one per sendBatch), refused ones included. */
  transfers: { hub: string; partition?: string; events: number; bytes: number; outcome: string }[];
  /** The next `count` transfers are rejected with `condition` (default: server busy, i.e. throttled). */
  refuseTransfers(count: number, condition?: string): void;
  /** Closes the listener and every connection (the namespace is "down"); `start` reopens the port. */
  stop(): Promise<void>;
  start(): Promise<void>;
  close(): Promise<void>;
}

export interface EventHubsTestOptions {
  hubs: Record<string, { partitions: number }>;
  keys: SharedAccessKey[];
  /** Largest message accepted on a sender link (1 MB on Standard namespaces). */
  maxMessageSize?: number;
}

const batchFormat = 0x80013700;
const partitionKeyAnnotation = "x-opt-partition-key";

interface Claim {
  entityPath: string;
  expires: number;
  rights: string[];
}

function parseSasToken(token: string): Record<string, string> | undefined {
  if (!token.startsWith("SharedAccessSignature ")) return undefined;
  const fields: Record<string, string> = {};
  for (const part of token.slice("SharedAccessSignature ".length).split("&")) {
    const eq = part.indexOf("=");
    if (eq > 0) fields[part.slice(0, eq)] = part.slice(eq + 1);
  }
  return fields;
}

/** The path of a resource URI (`sb://host/hub/Partitions/0` → `hub/Partitions/0`), lower-cased. */
function entityPathOf(uri: string): string {
  return uri
    .replace(/^[a-z]+:\/\/[^/]*\/?/i, "")
    .replace(/\/$/, "")
    .toLowerCase();
}

const covers = (claimPath: string, path: string) => path === claimPath || path.startsWith(`${claimPath}/`);

function bodyOf(message: Message): { body: unknown; contentType?: string } {
  let raw: unknown = message.body;
  if (raw && typeof raw === "object" && "typecode" in raw && "content" in raw) {
    raw = (raw as { content: unknown }).content;
  }
  const contentType = message.content_type ? String(message.content_type) : undefined;
  if (Buffer.isBuffer(raw)) {
    const text = raw.toString("utf8");
    try {
      return { body: JSON.parse(text), ...(contentType ? { contentType } : {}) };
    } catch {
      return { body: text, ...(contentType ? { contentType } : {}) };
    }
  }
  return { body: raw, ...(contentType ? { contentType } : {}) };
}

/** Starts the endpoint on a free loopback port. */
export async function startEventHubs(options: EventHubsTestOptions): Promise<EventHubsTestServer> {
  const maxMessageSize = options.maxMessageSize ?? 1024 * 1024;
  const hubs = new Map(Object.entries(options.hubs).map(([name, h]) => [name.toLowerCase(), { name, ...h }]));
  const messages: ReceivedEvent[] = [];
  const transfers: EventHubsTestServer["transfers"] = [];
  const claims = new Map<unknown, Claim[]>();
  const replyLinks = new Map<unknown, Map<string, Sender>>();
  const roundRobin = new Map<string, number>();
  let refusals = { count: 0, condition: "com.microsoft:server-busy" };
  let transferCount = 0;
  const createdAt = new Date();

  const container = rhea.create_container({
    id: "herald-test-event-hubs",
    // No credit until a link is allowed (see receiver_open): a refused sender must not send.
    receiver_options: { max_message_size: maxMessageSize, autoaccept: false, credit_window: 0 },
  });
  container.sasl_server_mechanisms.enable_anonymous();
  container.sasl_server_mechanisms.enable_plain(() => true);

  /** Checks a SAS token for a resource; returns an error status and description, or the claim. */
  function checkToken(token: string, audience: string): { status: number; description: string } | Claim {
    const fields = parseSasToken(token);
    if (!fields?.sr || !fields.sig || !fields.se || !fields.skn)
      return { status: 401, description: "InvalidSignature: The token is not a SharedAccessSignature." };
    const keyName = decodeURIComponent(fields.skn);
    const key = options.keys.find((k) => k.name === keyName);
    if (!key)
      return {
        status: 401,
        description: `InvalidSignature: The key name '${keyName}' is not a policy of this namespace.`,
      };
    const expected = createHmac("sha256", key.key).update(`${fields.sr}\n${fields.se}`).digest();
    const given = Buffer.from(decodeURIComponent(fields.sig), "base64");
    if (given.length !== expected.length || !timingSafeEqual(given, expected))
      return { status: 401, description: "InvalidSignature: The token has an invalid signature." };
    const expires = Number(fields.se) * 1000;
    if (!(expires > Date.now())) return { status: 401, description: "ExpiredToken: The token is expired." };
    const resource = entityPathOf(decodeURIComponent(fields.sr));
    const wanted = entityPathOf(audience);
    if (!covers(resource, wanted))
      return {
        status: 401,
        description: `InvalidAudience: The token's resource does not cover '${audience}'.`,
      };
    const hubName = wanted.split("/")[0] ?? "";
    if (key.hub && key.hub.toLowerCase() !== hubName)
      return {
        status: 401,
        description: `Unauthorized: The policy '${keyName}' is not valid for '${hubName}'.`,
      };
    if (hubName && !hubs.has(hubName))
      return {
        status: 404,
        description: `The messaging entity '${audience}' could not be found. To know more visit https://aka.ms/sbResourceMgrExceptions.`,
      };
    return { entityPath: wanted, expires, rights: key.rights ?? ["Send", "Listen", "Manage"] };
  }

  function reply(
    context: EventContext,
    request: Message,
    status: number,
    description: string,
    body?: unknown,
  ) {
    const links = replyLinks.get(context.connection);
    const sender = request.reply_to ? links?.get(String(request.reply_to)) : undefined;
    if (!sender) return;
    const properties: Record<string, unknown> = { "status-code": status, "status-description": description };
    if (status === 401) properties["error-condition"] = "amqp:unauthorized-access";
    if (status === 404) properties["error-condition"] = "amqp:not-found";
    sender.send({
      correlation_id: request.message_id,
      application_properties: properties,
      ...(body === undefined ? {} : { body }),
    } as Message);
  }

  function onCbs(context: EventContext, request: Message) {
    const props = (request.application_properties ?? {}) as Record<string, unknown>;
    if (props.operation !== "put-token") return reply(context, request, 400, "Unsupported CBS operation");
    const result = checkToken(String(request.body ?? ""), String(props.name ?? ""));
    if ("status" in result) return reply(context, request, result.status, result.description);
    const list = claims.get(context.connection) ?? [];
    list.push(result);
    claims.set(context.connection, list);
    reply(context, request, 202, "Accepted");
  }

  function onManagement(context: EventContext, request: Message) {
    const props = (request.application_properties ?? {}) as Record<string, unknown>;
    const hubName = String(props.name ?? "");
    const check = checkToken(String(props.security_token ?? ""), `sb://namespace/${hubName}`);
    if ("status" in check) return reply(context, request, check.status, check.description);
    const hub = hubs.get(hubName.toLowerCase());
    if (!hub || props.operation !== "READ")
      return reply(context, request, 404, `The messaging entity '${hubName}' could not be found.`);
    const ids = Array.from({ length: hub.partitions }, (_, i) => String(i));
    if (props.type === "com.microsoft:eventhub") {
      return reply(context, request, 200, "OK", {
        name: hub.name,
        type: "com.microsoft:eventhub",
        created_at: createdAt,
        partition_count: hub.partitions,
        partition_ids: ids,
      });
    }
    if (props.type === "com.microsoft:partition") {
      const partition = String(props.partition ?? "");
      if (!ids.includes(partition))
        return reply(context, request, 404, `Partition '${partition}' could not be found.`);
      const count = messages.filter((m) => m.hub === hub.name && m.partition === partition).length;
      return reply(context, request, 200, "OK", {
        name: hub.name,
        type: "com.microsoft:partition",
        partition,
        begin_sequence_number: 0,
        last_enqueued_sequence_number: count - 1,
        last_enqueued_offset: String(count),
        last_enqueued_time_utc: new Date(),
        is_partition_empty: count === 0,
      });
    }
    return reply(context, request, 400, `Unsupported type '${String(props.type)}'`);
  }

  /** Decodes a transfer into its events (a batch holds one encoded message per data section). */
  function eventsOf(context: EventContext & { format?: number }): Message[] {
    if (context.format === batchFormat && Buffer.isBuffer(context.message)) {
      const envelope = rhea.message.decode(context.message as unknown as Buffer);
      const section = envelope.body as { content: Buffer | Buffer[]; multiple?: boolean };
      const parts = Array.isArray(section.content) ? section.content : [section.content];
      return parts.map((part) => rhea.message.decode(part) as unknown as Message);
    }
    return context.message ? [context.message] : [];
  }

  function refuse(link: { close(error?: AmqpError): void }, condition: string, description: string) {
    link.close({ condition, description });
  }

  container.on("sender_open", (context: EventContext) => {
    // The client's receiving end of a request/response pair: replies go to its name / address.
    const sender = context.sender as Sender;
    const links = replyLinks.get(context.connection) ?? new Map<string, Sender>();
    links.set(sender.name, sender);
    const target = (sender as unknown as { target?: { address?: string } }).target?.address;
    if (target) links.set(target, sender);
    replyLinks.set(context.connection, links);
  });

  container.on("receiver_open", (context: EventContext) => {
    const receiver = context.receiver;
    if (!receiver) return;
    const address = String((receiver as unknown as { target?: { address?: string } }).target?.address ?? "");
    const allow = () => {
      receiver.set_credit_window(100);
      receiver.add_credit(100);
    };
    if (address === "$cbs" || address.endsWith("$management")) return allow();
    const path = entityPathOf(address);
    const [hubName = "", word, partition] = path.split("/");
    const hub = hubs.get(hubName);
    if (
      !hub ||
      (word !== undefined && (word !== "partitions" || !partition || Number(partition) >= hub.partitions))
    )
      return refuse(receiver, "amqp:not-found", `The messaging entity '${address}' could not be found.`);
    const held = (claims.get(context.connection) ?? []).filter(
      (c) => c.expires > Date.now() && covers(c.entityPath, path),
    );
    if (!held.length)
      return refuse(
        receiver,
        "amqp:unauthorized-access",
        `Unauthorized access. No claim covers '${address}'.`,
      );
    if (!held.some((c) => c.rights.includes("Send")))
      return refuse(
        receiver,
        "amqp:unauthorized-access",
        `Unauthorized access. 'Send' claim(s) are required to perform this operation. Resource: '${address}'.`,
      );
    allow();
  });

  container.on("message", (context: EventContext & { format?: number }) => {
    const receiver = context.receiver;
    const delivery = context.delivery;
    if (!receiver || !delivery) return;
    const address = String((receiver as unknown as { target?: { address?: string } }).target?.address ?? "");
    const message = context.message as Message;
    if (address === "$cbs") {
      delivery.accept();
      return onCbs(context, message);
    }
    if (address.endsWith("$management")) {
      delivery.accept();
      return onManagement(context, message);
    }
    const [hubPath = "", , partitionPath] = entityPathOf(address).split("/");
    const hub = hubs.get(hubPath);
    if (!hub)
      return delivery.reject({ condition: "amqp:not-found", description: `Unknown entity '${address}'` });
    const bytes = Buffer.isBuffer(context.message) ? (context.message as unknown as Buffer).length : 0;
    const events = eventsOf(context);
    const record = {
      hub: hub.name,
      events: events.length,
      bytes,
      outcome: "accepted",
      ...(partitionPath ? { partition: partitionPath } : {}),
    };
    transfers.push(record);
    if (bytes > maxMessageSize) {
      record.outcome = "amqp:link:message-size-exceeded";
      return delivery.reject({
        condition: record.outcome,
        description: `The message of ${bytes} bytes is over ${maxMessageSize}.`,
      });
    }
    if (refusals.count > 0) {
      refusals.count--;
      record.outcome = refusals.condition;
      return delivery.reject({
        condition: refusals.condition,
        description:
          "The request was terminated because the entity is being throttled. Please wait 4 seconds and try again.",
      });
    }
    const transfer = ++transferCount;
    for (const event of events) {
      const annotations = (event.message_annotations ?? {}) as Record<string, unknown>;
      const key = annotations[partitionKeyAnnotation];
      let partition = partitionPath;
      if (partition === undefined) {
        if (typeof key === "string") partition = String(mapPartitionKeyToId(key, hub.partitions));
        else {
          const next = roundRobin.get(hub.name) ?? 0;
          roundRobin.set(hub.name, next + 1);
          partition = String(next % hub.partitions);
        }
      }
      messages.push({
        hub: hub.name,
        partition,
        ...(typeof key === "string" ? { partitionKey: key } : {}),
        ...bodyOf(event),
        ...(event.application_properties
          ? { properties: event.application_properties as Record<string, unknown> }
          : {}),
        transfer,
      });
    }
    delivery.accept();
  });

  container.on("connection_close", (context: EventContext) => {
    claims.delete(context.connection);
    replyLinks.delete(context.connection);
  });
  container.on("disconnected", (context: EventContext) => {
    claims.delete(context.connection);
    replyLinks.delete(context.connection);
  });

  let port = 0;
  let listener: Server | undefined;
  const sockets = new Set<Socket>();
  const start = () =>
    new Promise<void>((resolve, reject) => {
      const server = container.listen({ port, host: "127.0.0.1" });
      server.on("connection", (socket: Socket) => {
        sockets.add(socket);
        socket.on("close", () => sockets.delete(socket));
      });
      server.once("error", reject);
      server.once("listening", () => {
        const address = server.address();
        if (address && typeof address === "object") port = address.port;
        listener = server;
        resolve();
      });
    });
  const stop = () =>
    new Promise<void>((resolve) => {
      for (const socket of sockets) socket.destroy();
      sockets.clear();
      if (!listener) return resolve();
      listener.close(() => resolve());
      listener = undefined;
    });
  await start();

  return {
    get namespace() {
      return `127.0.0.1:${port}`;
    },
    get port() {
      return port;
    },
    connectionString(keyName = options.keys[0]?.name ?? "") {
      const key = options.keys.find((k) => k.name === keyName);
      return `Endpoint=sb://127.0.0.1:${port}/;SharedAccessKeyName=${keyName};SharedAccessKey=${key?.key ?? ""};UseDevelopmentEmulator=true`;
    },
    messages,
    transfers,
    refuseTransfers(count, condition = "com.microsoft:server-busy") {
      refusals = { count, condition };
    },
    stop,
    start,
    close: stop,
  };
}
