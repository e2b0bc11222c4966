import { describe, expect, it } from "vitest";
import { azureBlobDestination } from "../../src/destinations/azure-blob/index.ts";
import { eventHubsDestination } from "../../src/destinations/event-hubs/index.ts";
import { httpDestination } from "../../src/destinations/http/index.ts";
import {
  askForMissingFields,
  type DestinationDefinition,
  type FieldToAsk,
  fieldsToAsk,
} from "../../src/destinations/index.ts";
import { localDestination } from "../../src/destinations/local/index.ts";
import { s3Destination } from "../../src/destinations/s3/index.ts";
import { sftpDestination } from "../../src/destinations/sftp/index.ts";

/** What the CLI asks for on a terminal: the decision, without a terminal. */
const ask = (definition: DestinationDefinition, values: Record<string, unknown>) =>
  fieldsToAsk(definition.connectionSchema, values).map((f) => f.name);
const eventHubsNamespace = "contoso.servicebus.windows.net";

describe("fields the CLI asks for", () => {
  it.each([
    ["local, nothing given", localDestination, {}, ["root"]],
    ["SFTP, nothing given", sftpDestination, {}, ["host", "username"]],
    ["SFTP without a credential", sftpDestination, { host: "h", username: "u" }, ["password", "privateKey"]],
    ["SFTP with a password", sftpDestination, { host: "h", username: "u", password: "p" }, []],
    ["Azure, nothing given", azureBlobDestination, {}, ["connectionString", "sasUrl"]],
    [
      "Event Hubs, nothing given",
      eventHubsDestination,
      {},
      ["namespace", "connectionString", "sharedAccessKeyName", "sharedAccessKey"],
    ],
    [
      "Event Hubs with a namespace",
      eventHubsDestination,
      { namespace: eventHubsNamespace },
      ["sharedAccessKeyName", "connectionString", "sharedAccessKey"],
    ],
    ["HTTP, nothing given", httpDestination, {}, ["url"]],
    ["HTTP without authentication", httpDestination, { url: "https://api.example.com/in" }, []],
    [
      "HTTP, basic",
      httpDestination,
      { url: "https://api.example.com/in", authType: "basic" },
      ["username", "password"],
    ],
    [
      "HTTP, oauth2",
      httpDestination,
      { url: "https://api.example.com/in", authType: "oauth2", clientId: "c" },
      ["tokenUrl", "clientSecret"],
    ],
    // A wrong value is the check's to report, not a reason to ask again.
    ["SFTP with a wrong port", sftpDestination, { host: "h", username: "u", password: "p", port: 0 }, []],
  ] as const)("%s", (_, definition, values, expected) => {
    expect(ask(definition as DestinationDefinition, values)).toEqual(expected);
  });

  it("asks for the details a connector requires", () => {
    expect(fieldsToAsk(s3Destination.detailsSchema, {}).map((f) => f.name)).toEqual(["bucket"]);
    expect(fieldsToAsk(localDestination.detailsSchema, {})).toEqual([]);
  });

  it("marks alternatives optional, with the check that wants them", () => {
    expect(fieldsToAsk(sftpDestination.connectionSchema, { host: "h", username: "u" })[0]).toEqual({
      name: "password",
      type: "string",
      required: false,
      why: "give a password or a privateKey",
    });
  });
});

describe("asking until the connection holds", () => {
  /** Answers from a script, recording what was asked. */
  function scripted(answers: Record<string, string>) {
    const asked: string[] = [];
    return {
      asked,
      ask: async (field: FieldToAsk) => {
        asked.push(field.name);
        return answers[field.name] ?? "";
      },
    };
  }

  it("offers the next alternative when one is skipped, and stops once the check passes", async () => {
    const sasUrl = "https://acme.blob.core.windows.net/audiences?sv=2024&sig=abc";
    const user = scripted({ sasUrl });
    const values = await askForMissingFields(azureBlobDestination.connectionSchema, {}, user.ask);
    expect(user.asked).toEqual(["connectionString", "sasUrl"]);
    expect(values).toEqual({ sasUrl });
    expect(azureBlobDestination.connectionSchema.safeParse(values).success).toBe(true);
  });

  it("asks the required fields first, then the credential, and no optional field nobody wants", async () => {
    const user = scripted({ host: "sftp.example.com", password: "pw" });
    const values = await askForMissingFields(sftpDestination.connectionSchema, { username: "u" }, user.ask);
    expect(user.asked).toEqual(["host", "password"]);
    expect(values).toEqual({ username: "u", host: "sftp.example.com", password: "pw" });
  });

  it("asks each field once: skipping every alternative leaves the check to name them", async () => {
    const user = scripted({});
    const values = await askForMissingFields(
      eventHubsDestination.connectionSchema,
      { namespace: eventHubsNamespace },
      user.ask,
    );
    expect(user.asked).toEqual(["sharedAccessKeyName", "connectionString", "sharedAccessKey"]);
    expect(values).toEqual({ namespace: eventHubsNamespace });
  });
});
