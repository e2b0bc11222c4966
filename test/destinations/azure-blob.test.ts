import { createHash, randomBytes } from "node:crypto";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { azureBlobDestination } from "../../src/destinations/azure-blob/index.ts";
import type { AzureBlobConnection, AzureBlobDetails } from "../../src/destinations/azure-blob/schemas.ts";
import { BLOCK_SIZE } from "../../src/destinations/azure-blob/session.ts";
import {
  createAccount,
  type FileConnector,
  type FileSession,
  listAccounts,
} from "../../src/destinations/index.ts";
import { temporaryName } from "../../src/destinations/temporary-names.ts";
import { HeraldError } from "../../src/errors/index.ts";
import { DEFAULT_SANDBOX } from "../../src/store/index.ts";
import { type AzuriteServer, startAzurite } from "../servers/azurite.ts";
import { freePort } from "../support/postgres-cluster.ts";
import { accountDeps } from "./account-deps.ts";

/* The Azure Blob connector against Azurite (Microsoft's emulator) on loopback. */

const MiB = 1024 * 1024;
let azure: AzuriteServer;

beforeAll(async () => {
  azure = await startAzurite({ containers: ["audiences", "listing"] });
});
afterAll(async () => {
  await azure?.stop();
});

const connector = azureBlobDestination.connector as FileConnector<AzureBlobConnection, AzureBlobDetails>;

/** Every blob name in a container, including blobs that have only uncommitted blocks. */
async function allBlobs(container: string): Promise<string[]> {
  const names: string[] = [];
  const client = azure.serviceClient().getContainerClient(container);
  for await (const blob of client.listBlobsFlat({ includeUncommitedBlobs: true })) names.push(blob.name);
  return names.sort();
}

/** Names of committed blobs: what anybody reading the container can see. */
async function visibleBlobs(container: string): Promise<string[]> {
  const names: string[] = [];
  for await (const blob of azure.serviceClient().getContainerClient(container).listBlobsFlat()) {
    names.push(blob.name);
  }
  return names.sort();
}

function randomBody(total: number, chunks: Buffer[] = []): Readable {
  return Readable.from(
    (function* () {
      for (let sent = 0; sent < total; sent += MiB) {
        const chunk = randomBytes(Math.min(MiB, total - sent));
        chunks.push(chunk);
        yield chunk;
      }
    })(),
  );
}

const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

async function expectHeraldError(promise: Promise<unknown>, kind: HeraldError["kind"]): Promise<HeraldError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(HeraldError);
  expect((error as HeraldError).kind).toBe(kind);
  return error as HeraldError;
}

const wrongKey = () => Buffer.alloc(64, 7).toString("base64");

describe("Azure Blob connection settings", () => {
  it("needs exactly one of connectionString and sasUrl", () => {
    const neither = azureBlobDestination.connectionSchema.safeParse({});
    expect(neither.error?.issues.map((i) => i.message)).toEqual(["give either connectionString or sasUrl"]);
    const both = azureBlobDestination.connectionSchema.safeParse({
      connectionString: azure.connectionString,
      sasUrl: azure.sasUrl("audiences", "rl"),
    });
    expect(both.error?.issues.map((i) => i.message)).toEqual(["give connectionString or sasUrl, not both"]);
    expect(
      azureBlobDestination.connectionSchema.safeParse({ sasUrl: "https://acme.example/c" }).success,
    ).toBe(false);
    expect(azureBlobDestination.connectionSchema.safeParse({ connectionString: "nonsense" }).success).toBe(
      false,
    );
  });

  it("checks container names", () => {
    for (const container of ["ab", "Audiences", "a--b", "-ab", "a_b"]) {
      expect(azureBlobDestination.detailsSchema.safeParse({ container }).success).toBe(false);
    }
    expect(azureBlobDestination.detailsSchema.safeParse({ container: "audiences-2026" }).success).toBe(true);
  });
});

describe("Azure Blob validate", () => {
  it("accepts a connection string and a container, leaving no visible blob", async () => {
    await connector.validate(
      { connectionString: azure.connectionString },
      { container: "audiences", folderPath: "validate" },
    );
    expect(await visibleBlobs("audiences")).toEqual([]);
  });

  it("accepts a container SAS URL with read, write and list permissions (rwl)", async () => {
    await connector.validate({ sasUrl: azure.sasUrl("audiences", "rwl") }, { container: "audiences" });
  });

  it("accepts an account SAS URL of the blob service, for the container named in the details", async () => {
    const sasUrl = azure.accountSasUrl("rwl");
    await connector.validate({ sasUrl }, { container: "listing", folderPath: "account-sas" });
    const session = await connector.open({ sasUrl }, { container: "listing", folderPath: "account-sas" });
    try {
      const { location } = await session.putFile("a.csv", Readable.from(["id\n1\n"]));
      expect(location).toBe(`${azure.blobEndpoint}/listing/account-sas/a.csv`);
      expect((await session.getFile("a.csv")).toString()).toBe("id\n1\n");
      expect(await session.listFiles()).toEqual(["a.csv"]);
    } finally {
      await session.close();
    }
    await expectHeraldError(
      connector.validate({ sasUrl: azure.accountSasUrl("rl") }, { container: "listing" }),
      "forbidden",
    );
  });

  it("refuses a SAS URL for another container than the details name", async () => {
    const error = await expectHeraldError(
      connector.validate({ sasUrl: azure.sasUrl("audiences", "racwl") }, { container: "listing" }),
      "validation",
    );
    expect(error.message).toContain("'audiences'");
  });

  it("rejects a wrong account key as auth_failed, without printing it", async () => {
    const key = wrongKey();
    const connectionString = azure.connectionString.replace(azure.accountKey, key);
    const error = await expectHeraldError(
      connector.validate({ connectionString }, { container: "audiences" }),
      "auth_failed",
    );
    expect(error.message).toContain("rejected the credentials");
    expect(error.message).toContain("connection.connectionString");
    expect(error.issues.map((issue) => issue.field)).toEqual(["connection.connectionString"]);
    expect(error.message).not.toContain(key);
  });

  it("rejects an expired SAS token as auth_failed, without printing its signature", async () => {
    const sasUrl = azure.sasUrl("audiences", "racwl", new Date(Date.now() - 60_000));
    const error = await expectHeraldError(
      connector.validate({ sasUrl }, { container: "audiences" }),
      "auth_failed",
    );
    expect(error.message).toContain("connection.sasUrl");
    expect(error.issues.map((issue) => issue.field)).toEqual(["connection.sasUrl"]);
    const signature = new URL(sasUrl).searchParams.get("sig") ?? "";
    expect(signature).not.toBe("");
    expect(error.message).not.toContain(signature);
    expect(error.message).not.toContain(encodeURIComponent(signature));
  });

  it("names the unreachable endpoint (a closed port) as unavailable", async () => {
    const closed = `http://127.0.0.1:${await freePort()}/devstoreaccount1`;
    const connectionString = azure.connectionString.replace(azure.blobEndpoint, closed);
    const started = Date.now();
    const error = await expectHeraldError(
      connector.validate({ connectionString }, { container: "audiences" }),
      "unavailable",
    );
    expect(error.message).toContain(closed);
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it("names a missing container as not_found", async () => {
    const error = await expectHeraldError(
      connector.validate({ connectionString: azure.connectionString }, { container: "no-such-container" }),
      "not_found",
    );
    expect(error.message).toContain("'no-such-container'");
    expect(error.issues).toEqual([{ field: "details.container", message: "does not exist" }]);
  });

  it("reports a read-only SAS URL as forbidden, naming the folder", async () => {
    const error = await expectHeraldError(
      connector.validate(
        { sasUrl: azure.sasUrl("audiences", "rl") },
        { container: "audiences", folderPath: "exports" },
      ),
      "forbidden",
    );
    expect(error.message).toContain("AuthorizationPermissionMismatch");
    expect(error.message).toContain("folder 'exports'");
  });

  it("needs only write and list (wl): validates, uploads and lists with them, and says so when refused", async () => {
    const sasUrl = azure.sasUrl("listing", "wl");
    await connector.validate({ sasUrl }, { container: "listing", folderPath: "wl-only" });
    const session = await connector.open({ sasUrl }, { container: "listing", folderPath: "wl-only" });
    try {
      await session.putFile("a.csv", Readable.from(["id\n1\n"]));
      await session.putFile("a.csv", Readable.from(["id\n2\n"]));
      expect(await session.listFiles()).toEqual(["a.csv"]);
    } finally {
      await session.close();
    }
    const refused = await expectHeraldError(
      connector.validate({ sasUrl: azure.sasUrl("listing", "rl") }, { container: "listing" }),
      "forbidden",
    );
    expect(refused.message).toContain(
      "connection.sasUrl (its SAS token, or the role) needs write and list permissions (wl)",
    );
    expect(refused.issues.map((issue) => issue.field)).toEqual(["connection.sasUrl"]);
  });

  it("reports a SAS URL that cannot list as forbidden", async () => {
    await expectHeraldError(
      connector.validate({ sasUrl: azure.sasUrl("audiences", "w") }, { container: "audiences" }),
      "forbidden",
    );
  });
});

describe("Azure Blob session", () => {
  let session: FileSession;
  beforeAll(async () => {
    session = await connector.open(
      { connectionString: azure.connectionString },
      { container: "audiences", folderPath: "/exports/daily/" },
    );
  });
  afterAll(async () => {
    await session?.close();
  });

  it("uploads a 20 MiB file as parallel blocks and reads it back", async () => {
    const chunks: Buffer[] = [];
    const size = 20 * MiB + 12_345;
    const result = await session.putFile("audience.bin", randomBody(size, chunks));
    expect(result).toEqual({
      location: `${azure.blobEndpoint}/audiences/exports/daily/audience.bin`,
      bytes: size,
    });
    const blob = azure
      .serviceClient()
      .getContainerClient("audiences")
      .getBlockBlobClient("exports/daily/audience.bin");
    const { committedBlocks = [] } = await blob.getBlockList("committed");
    expect(committedBlocks).toHaveLength(Math.ceil(size / BLOCK_SIZE));

    const back = await session.getFile("audience.bin");
    expect(back.length).toBe(size);
    expect(sha256(back)).toBe(sha256(Buffer.concat(chunks)));
  });

  it("uploads a small file and an empty file", async () => {
    await session.putFile("small.csv", Readable.from(["id,email\n", "1,a@example.com\n"]));
    expect((await session.getFile("small.csv")).toString()).toBe("id,email\n1,a@example.com\n");
    expect((await session.putFile("empty.csv", Readable.from([]))).bytes).toBe(0);
    expect((await session.getFile("empty.csv")).length).toBe(0);
  });

  it("deletes a blob in its folder, a missing one without error", async () => {
    await session.putFile("old_2.csv", Readable.from(["x\n"]));
    await session.deleteFile("old_2.csv");
    await session.deleteFile("old_2.csv");
    expect(await session.listFiles()).not.toContain("old_2.csv");
  });

  it("shows nothing under the final name when the body fails halfway, and keeps a previous file", async () => {
    await session.putFile("broken.bin", Readable.from(["previous export\n"]));
    await session.putFile("never-before.bin.keep", Readable.from(["x"]));
    const failing = () =>
      Readable.from(
        (function* () {
          for (let i = 0; i < 20; i++) yield randomBytes(MiB);
          throw new Error("source query failed");
        })(),
      );
    await expect(session.putFile("broken.bin", failing())).rejects.toThrow("source query failed");
    await expect(session.putFile("new.bin", failing())).rejects.toThrow("source query failed");

    expect((await session.getFile("broken.bin")).toString()).toBe("previous export\n");
    await expectHeraldError(session.getFile("new.bin"), "not_found");
    expect(await session.listFiles()).not.toContain("new.bin");
    expect(await visibleBlobs("audiences")).not.toContain("exports/daily/new.bin");
    // Blocks staged before the failure stay uncommitted: invisible to every reader, and dropped by
    // Azure after seven days, so cleanup has nothing to remove.
    expect(await session.cleanupTemporaries()).toBe(0);
  });

  it("commits nothing when the upload is aborted", async () => {
    await session.putFile("aborted.bin", Readable.from(["previous version\n"]));
    const controller = new AbortController();
    let produced = 0;
    const endless = Readable.from(
      (function* () {
        for (;;) {
          produced += MiB;
          if (produced === 18 * MiB) controller.abort(new Error("run cancelled by the user"));
          yield randomBytes(MiB);
        }
      })(),
    );
    await expect(session.putFile("aborted.bin", endless, { signal: controller.signal })).rejects.toThrow(
      "run cancelled by the user",
    );
    expect(endless.destroyed).toBe(true);
    expect((await session.getFile("aborted.bin")).toString()).toBe("previous version\n");

    await expect(
      session.putFile("never.bin", Readable.from(["x"]), {
        signal: AbortSignal.abort(new Error("too late")),
      }),
    ).rejects.toThrow("too late");
    expect(await allBlobs("audiences")).not.toContainEqual(expect.stringContaining("never.bin"));
  });

  it("lists the folder's files: not temporaries, not subfolders, not other folders", async () => {
    const listing = await connector.open(
      { sasUrl: azure.sasUrl("listing", "rwl") },
      { container: "listing", folderPath: "lists" },
    );
    try {
      expect(await listing.listFiles()).toEqual([]);
      for (const name of ["b.csv", "a.csv", "c.csv.gz"]) await listing.putFile(name, Readable.from([name]));
      const other = azure.serviceClient().getContainerClient("listing");
      for (const name of ["lists/sub/deep.csv", "other/x.csv", `lists/${temporaryName("x.csv")}`]) {
        await other.getBlockBlobClient(name).upload("x", 1);
      }
      expect(await listing.listFiles()).toEqual(["a.csv", "b.csv", "c.csv.gz"]);
      const first = await listing.putFile("a.csv", Readable.from(["again"]));
      expect(first.location).toBe(`${azure.blobEndpoint}/listing/lists/a.csv`);
      expect(first.location).not.toContain("sig=");
      await expectHeraldError(listing.getFile("missing.csv"), "not_found");
      await expectHeraldError(listing.putFile("../escape.csv", Readable.from(["x"])), "validation");
    } finally {
      await listing.close();
    }
  });

  it("maps a read-only SAS upload to forbidden", async () => {
    const readOnly = await connector.open(
      { sasUrl: azure.sasUrl("audiences", "rl") },
      { container: "audiences", folderPath: "exports/daily" },
    );
    try {
      const error = await expectHeraldError(
        readOnly.putFile("denied.csv", Readable.from(["x"])),
        "forbidden",
      );
      expect(error.message).toContain("'denied.csv'");
      expect(await readOnly.listFiles()).toContain("audience.bin");
    } finally {
      await readOnly.close();
    }
  });
});

describe("Azure Blob name length", () => {
  it("bounds details.folderPath: 768 bytes and 253 segments leave room for a file name", () => {
    const parse = (folderPath: string) =>
      azureBlobDestination.detailsSchema.safeParse({ container: "audiences", folderPath });
    expect(parse(`/${"é".repeat(384)}/`).success).toBe(true);
    expect(parse(Array(253).fill("a").join("/")).success).toBe(true);
    expect(parse(`${"é".repeat(384)}x`).error?.issues.map((issue) => [issue.path, issue.message])).toEqual([
      [
        ["folderPath"],
        "must be at most 768 bytes (UTF-8), leaving room for a 255-byte file name in Azure's 1024-character blob names",
      ],
    ]);
    expect(parse(Array(254).fill("a").join("/")).error?.issues.map((issue) => issue.message)).toEqual([
      "must have at most 253 segments, leaving one for the file name in Azure's 254",
    ]);
  });

  it.each([
    {
      what: "over 1024 characters",
      folderPath: Array.from({ length: 4 }, (_, i) => `${i}`.repeat(200)).join("/"),
      problem: "is 1028 characters, over Azure's 1024",
    },
    {
      what: "over 254 segments",
      folderPath: Array(254).fill("s").join("/"),
      problem: "has 255 path segments, over Azure's 254",
    },
  ])(
    "refuses at upload a blob name $what, naming details.folderPath, and writes nothing",
    async ({ folderPath, problem }) => {
      const session = await connector.open(
        { connectionString: azure.connectionString },
        { container: "listing", folderPath },
      );
      try {
        const error = await expectHeraldError(
          session.putFile(`${"n".repeat(220)}.csv`, Readable.from(["x"])),
          "validation",
        );
        expect(error.code).toBe("azure_blob_name_too_long");
        expect(error.message).toContain(problem);
        expect(error.message).toContain("container 'listing'");
        expect(error.issues.map((issue) => issue.field)).toEqual(["details.folderPath"]);
      } finally {
        await session.close();
      }
      expect((await allBlobs("listing")).filter((name) => name.startsWith(folderPath.slice(0, 10)))).toEqual(
        [],
      );
    },
  );
});

describe("Azure Blob accounts", () => {
  let deps: Awaited<ReturnType<typeof accountDeps>>;
  beforeAll(async () => {
    deps = await accountDeps([azureBlobDestination]);
  });
  afterAll(async () => deps?.close());

  it("saves an account only after its credentials and container check out, secrets sealed", async () => {
    await expectHeraldError(
      createAccount(deps, DEFAULT_SANDBOX, {
        destinationId: "azure-blob",
        name: "read only",
        connection: { sasUrl: azure.sasUrl("audiences", "rl") },
        details: { container: "audiences" },
      }),
      "forbidden",
    );
    await expectHeraldError(
      createAccount(deps, DEFAULT_SANDBOX, {
        destinationId: "azure-blob",
        name: "neither",
        connection: {},
        details: { container: "audiences" },
      }),
      "validation",
    );
    expect(await listAccounts(deps, DEFAULT_SANDBOX)).toEqual([]);

    const account = await createAccount(deps, DEFAULT_SANDBOX, {
      destinationId: "azure-blob",
      name: "Audiences container",
      connection: { sasUrl: azure.sasUrl("audiences", "racwl") },
      details: { container: "audiences" },
    });
    expect(account.connection).toEqual({});
    expect(account.secretsSet).toEqual(["sasUrl"]);
    expect((await listAccounts(deps, DEFAULT_SANDBOX)).map((a) => a.name)).toEqual(["Audiences container"]);
  });
});
