import { EventHubProducerClient } from "@azure/event-hubs";
import { z } from "zod";
import { validationError } from "../../errors/index.ts";

const keyNamePattern = /^[A-Za-z0-9._-]{1,256}$/;

/**
 * Either a connection string, or the namespace with a shared access policy's name and key. The
 * fields are flat (not a union) so every form, prompt and secret list sees them at the top level.
 */
export const eventHubsConnectionSchema = z
  .object({
    connectionString: z
      .string()
      .optional()
      .describe(
        "Connection string of a shared access policy: Endpoint=sb://<namespace>/;SharedAccessKeyName=...;SharedAccessKey=...",
      ),
    namespace: z
      .string()
      .regex(/^[A-Za-z0-9.-]+(:\d{1,5})?$/, "a fully qualified host such as contoso.servicebus.windows.net")
      .optional()
      .describe("Fully qualified namespace, e.g. contoso.servicebus.windows.net"),
    sharedAccessKeyName: z
      .string()
      .regex(keyNamePattern, "letters, digits, '.', '_', '-'")
      .optional()
      .describe("Name of the shared access policy, e.g. RootManageSharedAccessKey"),
    sharedAccessKey: z.string().min(1).optional().describe("Key of the shared access policy"),
    useDevelopmentEmulator: z
      .boolean()
      .optional()
      .describe(
        "Plain AMQP without TLS, for the Event Hubs emulator (port 5672 unless the namespace names one)",
      ),
  })
  .superRefine((value, ctx) => {
    const hasString = value.connectionString !== undefined;
    const hasKey =
      value.namespace !== undefined ||
      value.sharedAccessKeyName !== undefined ||
      value.sharedAccessKey !== undefined;
    if (hasString && hasKey) {
      ctx.addIssue({
        code: "custom",
        path: ["connectionString"],
        message:
          "give either connectionString or namespace + sharedAccessKeyName + sharedAccessKey, not both",
      });
      return;
    }
    if (hasString) {
      const parts = parseConnectionString(value.connectionString ?? "");
      if (!/^sb:\/\/[^/;]+\/?$/.test(parts.Endpoint ?? ""))
        ctx.addIssue({
          code: "custom",
          path: ["connectionString"],
          message: "needs Endpoint=sb://<namespace>/",
        });
      const keyed = parts.SharedAccessKeyName !== undefined && parts.SharedAccessKey !== undefined;
      if (!keyed && parts.SharedAccessSignature === undefined)
        ctx.addIssue({
          code: "custom",
          path: ["connectionString"],
          message: "needs SharedAccessKeyName and SharedAccessKey (or a SharedAccessSignature)",
        });
      return;
    }
    for (const field of ["namespace", "sharedAccessKeyName", "sharedAccessKey"] as const) {
      if (value[field] === undefined)
        ctx.addIssue({
          code: "custom",
          path: [field],
          message: "required unless a connectionString is given",
        });
    }
  });

export const eventHubsDetailsSchema = z.object({
  eventHubName: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,255}$/, "1-256 letters, digits, '.', '_', '-'")
    .describe("Name of the event hub inside the namespace"),
});

export type EventHubsConnection = z.infer<typeof eventHubsConnectionSchema>;
export type EventHubsDetails = z.infer<typeof eventHubsDetailsSchema>;

export const eventHubsSecretFields = ["connectionString", "sharedAccessKey"] as const;

/** `Key=Value;` pairs; values may contain `=` (base64 keys do). */
export function parseConnectionString(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of text.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0) out[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  return out;
}

/** Where the account points, for messages: never a key. */
export function describeNamespace(connection: EventHubsConnection): { namespace: string; keyName: string } {
  if (connection.connectionString) {
    const parts = parseConnectionString(connection.connectionString);
    return {
      namespace: (parts.Endpoint ?? "").replace(/^sb:\/\//, "").replace(/\/$/, ""),
      keyName: parts.SharedAccessKeyName ?? "(shared access signature)",
    };
  }
  return { namespace: connection.namespace ?? "", keyName: connection.sharedAccessKeyName ?? "" };
}

/**
 * A producer for one event hub. The SDK's own retries are off (`maxRetries: 0`): the streaming
 * machinery owns retries and backoff. Each operation times out after `timeoutInMs`: a send caught
 * by a dropped connection is not failed by the SDK, it waits for that timeout. Both forms become a connection string, the one input through
 * which the SDK accepts `UseDevelopmentEmulator` (plain AMQP on TCP for the emulator).
 */
export function createProducer(
  connection: EventHubsConnection,
  details: EventHubsDetails,
  timeoutInMs = 10_000,
): EventHubProducerClient {
  let connectionString = connection.connectionString;
  if (!connectionString) {
    connectionString = `Endpoint=sb://${connection.namespace}/;SharedAccessKeyName=${connection.sharedAccessKeyName};SharedAccessKey=${connection.sharedAccessKey}`;
    if (connection.useDevelopmentEmulator) connectionString += ";UseDevelopmentEmulator=true";
  }
  const entityPath = parseConnectionString(connectionString).EntityPath;
  if (entityPath && entityPath !== details.eventHubName) {
    throw validationError(
      `details.eventHubName: the connection string is for the event hub '${entityPath}', not '${details.eventHubName}'`,
      [{ field: "details.eventHubName", message: `the connection string's EntityPath is '${entityPath}'` }],
    );
  }
  try {
    return new EventHubProducerClient(connectionString, details.eventHubName, {
      retryOptions: { maxRetries: 0, timeoutInMs },
    });
  } catch {
    // The SDK's message may quote the connection string, key included: never pass it on.
    throw validationError("connection: the Event Hubs connection settings are not valid", [
      { field: "connection", message: "not a valid Event Hubs connection" },
    ]);
  }
}
