import { type ChildProcess, spawn } from "node:child_process";
import fs from "node:fs/promises";
import { createRequire } from "node:module";
import os from "node:os";
import path from "node:path";
import {
  AccountSASPermissions,
  AccountSASResourceTypes,
  AccountSASServices,
  BlobServiceClient,
  ContainerSASPermissions,
  generateAccountSASQueryParameters,
  generateBlobSASQueryParameters,
  StorageSharedKeyCredential,
} from "@azure/storage-blob";
import { freePort } from "../support/postgres-cluster.ts";

/**
 * Azurite, Microsoft's Azure Storage emulator (blob service only), as a child process on a free
 * loopback port with its data in a temp directory, for the Azure Blob connector's tests and
 * end-to-end exports:
 *
 *   const azure = await startAzurite({ containers: ["audiences"] });
 *   // connection: { connectionString: azure.connectionString }  or  { sasUrl: azure.sasUrl("audiences", "racwl") }
 *   // details:    { container: "audiences", folderPath: "exports" }
 *   await azure.stop();
 *
 * Azurite checks Shared Key signatures and SAS permissions like Azure Storage does, so wrong keys
 * (AuthenticationFailed) and read-only SAS tokens (AuthorizationPermissionMismatch) are real.
 */
export interface AzuriteServer {
  /** `http://127.0.0.1:<port>/devstoreaccount1` */
  blobEndpoint: string;
  accountName: string;
  accountKey: string;
  /** The emulator's well-known development account, with this instance's blob endpoint. */
  connectionString: string;
  /** A container SAS URL, e.g. `sasUrl("audiences", "rl")` for read and list only. */
  sasUrl(container: string, permissions: string, expiresOn?: Date): string;
  /** An account SAS URL of the blob service, e.g. `accountSasUrl("rwl")`, for any container. */
  accountSasUrl(permissions: string, expiresOn?: Date): string;
  createContainer(name: string): Promise<void>;
  /** A client with full rights, to look at what the connector left. */
  serviceClient(): BlobServiceClient;
  stop(): Promise<void>;
}

/** Azurite's fixed development account (published in its documentation; not a secret). */
const ACCOUNT_NAME = "devstoreaccount1";
const ACCOUNT_KEY =
  "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";

const require = createRequire(import.meta.url);
const azuriteBlobMain = path.join(
  path.dirname(require.resolve("azurite/package.json")),
  "dist/src/blob/main.js",
);

export async function startAzurite(options: { containers?: string[] } = {}): Promise<AzuriteServer> {
  const location = await fs.mkdtemp(path.join(os.tmpdir(), "herald-azurite-"));
  const port = await freePort();
  // The same Node that runs the tests (Node 24 here), not whatever `node` is first on the PATH.
  const child = spawn(
    process.execPath,
    [
      azuriteBlobMain,
      "--blobHost",
      "127.0.0.1",
      "--blobPort",
      String(port),
      "--location",
      location,
      "--silent",
      "--skipApiVersionCheck",
      "--loose",
      "--disableTelemetry",
    ],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  try {
    await listening(child, port);
  } catch (error) {
    child.kill("SIGKILL");
    await fs.rm(location, { recursive: true, force: true });
    throw error;
  }

  const blobEndpoint = `http://127.0.0.1:${port}/${ACCOUNT_NAME}`;
  const connectionString = `DefaultEndpointsProtocol=http;AccountName=${ACCOUNT_NAME};AccountKey=${ACCOUNT_KEY};BlobEndpoint=${blobEndpoint};`;
  const credential = new StorageSharedKeyCredential(ACCOUNT_NAME, ACCOUNT_KEY);
  const serviceClient = () => BlobServiceClient.fromConnectionString(connectionString);
  const server: AzuriteServer = {
    blobEndpoint,
    accountName: ACCOUNT_NAME,
    accountKey: ACCOUNT_KEY,
    connectionString,
    sasUrl(container, permissions, expiresOn = new Date(Date.now() + 3_600_000)) {
      const token = generateBlobSASQueryParameters(
        { containerName: container, permissions: ContainerSASPermissions.parse(permissions), expiresOn },
        credential,
      ).toString();
      return `${blobEndpoint}/${container}?${token}`;
    },
    accountSasUrl(permissions, expiresOn = new Date(Date.now() + 3_600_000)) {
      const token = generateAccountSASQueryParameters(
        {
          permissions: AccountSASPermissions.parse(permissions),
          services: AccountSASServices.parse("b").toString(),
          resourceTypes: AccountSASResourceTypes.parse("sco").toString(),
          expiresOn,
        },
        credential,
      ).toString();
      return `${blobEndpoint}?${token}`;
    },
    async createContainer(name) {
      await serviceClient().getContainerClient(name).createIfNotExists();
    },
    serviceClient,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
        await exited;
        clearTimeout(timer);
      }
      await fs.rm(location, { recursive: true, force: true });
    },
  };
  for (const container of options.containers ?? []) await server.createContainer(container);
  return server;
}

/** Resolves once Azurite says it listens; rejects with its output if it exits or takes too long. */
function listening(child: ChildProcess, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let output = "";
    const timer = setTimeout(
      () => fail(new Error(`Azurite did not start on port ${port} within 30 s`)),
      30_000,
    );
    const onData = (data: Buffer) => {
      output += data.toString();
      if (output.includes("successfully listens")) {
        done();
        resolve();
      }
    };
    const onExit = (code: number | null) => fail(new Error(`Azurite exited with code ${code}`));
    function done() {
      clearTimeout(timer);
      child.stdout?.off("data", onData);
      child.stderr?.off("data", onData);
      child.off("exit", onExit);
      child.stdout?.resume();
      child.stderr?.resume();
    }
    function fail(error: Error) {
      done();
      reject(new Error(`${error.message}:\n${output}`));
    }
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    child.once("exit", onExit);
  });
}
