import fs from "node:fs/promises";
import http from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";

/**
 * s3rver (an S3 server written for tests, storing objects in a directory) on a loopback port, for
 * the S3 connector's tests and end-to-end exports:
 *
 *   const s3 = await startS3rver();
 *   // connection: { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey,
 *   //               region: s3.region, endpoint: s3.endpoint, forcePathStyle: true }
 *   // details:    { bucket: s3.bucket, folderPath: "exports" }
 *   await s3.stop();
 *
 * What s3rver does and does not check, and what this helper adds in front of it:
 * - It accepts only the access key id "S3RVER" (anything else: `InvalidAccessKeyId`) but does not
 *   verify Signature V4, so a wrong *secret* with the right key id is accepted: wrong-credential
 *   tests must use a wrong key id.
 * - It has no IAM: every known key may do everything. A second key, `readOnlyAccessKeyId`, is
 *   registered here and refused every write (PUT, POST, DELETE) with S3's own `AccessDenied`
 *   answer, standing in for a read-only IAM policy.
 * - It implements multipart upload (create, upload part, complete) but not ListMultipartUploads,
 *   ListParts or AbortMultipartUpload. Those three are answered here from s3rver's own upload
 *   directory (`<directory>/<bucket>/._S3rver_uploads/<uploadId>/`), following the documented
 *   request and response shapes, so the SDK's abort-on-error and the connector's cleanup run
 *   against the same stored parts s3rver would complete.
 * - It stores each key as files named after its last segment: a segment too long for a file name
 *   is answered with S3's 501 `NotImplemented` naming the key (see `putObjectIfStorable`).
 * - Buckets are path-style only (`forcePathStyle: true`).
 */
export interface S3rverServer {
  /** `http://127.0.0.1:<port>` */
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  /** A key that may read and list but whose writes are refused with `AccessDenied`. */
  readOnlyAccessKeyId: string;
  readOnlySecretAccessKey: string;
  /** The bucket created at start (more with `startS3rver({ buckets })`). */
  bucket: string;
  /** s3rver's storage directory. */
  directory: string;
  /**
   * Every request received, as method, path and sorted query parameter names:
   * `PUT /herald-test/exports/a.csv?partNumber&uploadId`. Tests read it to see how a file was sent.
   */
  requests: string[];
  /** Multipart uploads in progress in `bucket`, as ListMultipartUploads would list them. */
  multipartUploads(bucket?: string): Promise<{ key: string; uploadId: string; initiated: Date }[]>;
  /**
   * Makes every object, multipart upload and part stored in `bucket` look `ageMs` old (s3rver
   * reads those times from its files' modification times), as if the process that wrote them had
   * died that long ago.
   */
  ageBucket(ageMs: number, bucket?: string): Promise<void>;
  stop(): Promise<void>;
}

interface S3rverApp {
  callback(): http.RequestListener;
  configureBuckets(): Promise<unknown>;
  logger: { close(): void };
}
type S3rverConstructor = new (options: Record<string, unknown>) => S3rverApp;
interface S3rverAccounts {
  DUMMY_ACCOUNT: { createKeyPair(accessKeyId: string, secretAccessKey: string): void };
}

const require = createRequire(import.meta.url);
const S3rver = require("s3rver") as S3rverConstructor;
const accounts = require("s3rver/lib/models/account") as S3rverAccounts;

interface ListResult {
  objects: { key: string }[];
  commonPrefixes: string[];
  isTruncated: boolean;
}
interface ListContext {
  query: Record<string, string | undefined>;
  store: { listObjects(bucket: string, options: unknown): Promise<ListResult> };
  body: {
    ListBucketResult: {
      Contents: { Key: string }[];
      CommonPrefixes: { Prefix: string }[];
      IsTruncated: boolean;
      StartAfter?: string;
      ContinuationToken?: string;
      NextContinuationToken?: string;
    };
  };
}
interface S3rverBucketController {
  getBucket(ctx: ListContext): Promise<void>;
  plainContinuationTokens?: boolean;
}

/*
 * s3rver makes ListObjectsV2 continuation tokens with DES, which OpenSSL 3 (Node 17 and later)
 * no longer offers: any truncated V2 listing (more than max-keys objects) fails with a 500. Its
 * router calls the controller through the module's exports, so the controller is wrapped here to
 * use a plain token instead (the base64url of the last key listed, which is what S3 tokens stand
 * for) and otherwise run unchanged.
 */
const bucketController = require("s3rver/lib/controllers/bucket") as S3rverBucketController;
if (!bucketController.plainContinuationTokens) {
  const getBucket = bucketController.getBucket;
  bucketController.plainContinuationTokens = true;
  bucketController.getBucket = async function getBucketWithPlainTokens(ctx) {
    if (ctx.query["list-type"] !== "2") return getBucket(ctx);
    const { "continuation-token": token, ...query } = ctx.query;
    if (token) query["start-after"] = Buffer.from(token, "base64url").toString();
    ctx.query = query;
    const store = ctx.store;
    let truncated = false;
    ctx.store = {
      async listObjects(bucket, options) {
        const result = await store.listObjects(bucket, options);
        truncated = result.isTruncated;
        return { ...result, isTruncated: false };
      },
    };
    try {
      await getBucket(ctx);
    } finally {
      ctx.store = store;
    }
    const listing = ctx.body.ListBucketResult;
    if (token) {
      listing.StartAfter = undefined;
      listing.ContinuationToken = token;
    }
    if (truncated) {
      const last = [...listing.Contents.map((c) => c.Key), ...listing.CommonPrefixes.map((p) => p.Prefix)]
        .sort()
        .at(-1);
      listing.IsTruncated = true;
      listing.NextContinuationToken = Buffer.from(last ?? "").toString("base64url");
    }
  };
}

interface S3rverStore {
  getResourcePath(bucket: string, key: string, resource: string): string;
  putObject(object: { bucket: string; key: string }): Promise<unknown>;
}
type S3rverStoreConstructor = { prototype: S3rverStore & { nameChecked?: boolean } };
type S3rverErrorConstructor = new (code: string, message: string) => Error;

/*
 * s3rver stores each key as files named after its last segment (`<name>._S3rver_object`,
 * `<name>._S3rver_metadata.json`), and writes the object through a stream it gives no 'error'
 * listener: a segment too long for a file name (ENAMETOOLONG from 240-odd bytes) was an unhandled
 * 'error' event that ended the process hosting the servers. The file system is asked first (in
 * the key's folder, made as s3rver would, a stat answers ENAMETOOLONG for such a name and ENOENT
 * for a new one), so the
 * request fails with S3's 501 NotImplemented (not retried; says what this server cannot store)
 * and the process lives. Real S3 stores any key up to 1024 bytes.
 */
const filesystemStore = require("s3rver/lib/stores/filesystem") as S3rverStoreConstructor;
const S3Error = require("s3rver/lib/models/error") as S3rverErrorConstructor;
if (!filesystemStore.prototype.nameChecked) {
  const putObject = filesystemStore.prototype.putObject;
  filesystemStore.prototype.nameChecked = true;
  filesystemStore.prototype.putObject = async function putObjectIfStorable(object) {
    for (const resource of ["object", "metadata.json"]) {
      const file = this.getResourcePath(object.bucket, object.key, resource);
      // Made as s3rver would: a missing folder would answer ENOENT before the name is looked at.
      await fs.mkdir(path.dirname(file), { recursive: true });
      const problem = await fs.stat(file).then(
        () => undefined,
        (error: NodeJS.ErrnoException) => (error.code === "ENOENT" ? undefined : error),
      );
      if (problem) {
        throw new S3Error(
          "NotImplemented",
          `s3rver cannot store key '${object.key}' as a file (${problem.code ?? problem.message})`,
        );
      }
    }
    return putObject.call(this, object);
  };
}

const ACCESS_KEY = "S3RVER";
const READ_ONLY_KEY = "S3RVER-READONLY";
// s3rver's account registry is global to the process: registering the key twice is harmless.
accounts.DUMMY_ACCOUNT.createKeyPair(READ_ONLY_KEY, READ_ONLY_KEY);

const UPLOADS = "._S3rver_uploads";

export async function startS3rver(
  options: { buckets?: string[]; region?: string } = {},
): Promise<S3rverServer> {
  const buckets = options.buckets ?? ["herald-test"];
  const region = options.region ?? "us-east-1";
  const directory = await fs.mkdtemp(path.join(os.tmpdir(), "herald-s3rver-"));
  const app = new S3rver({
    directory,
    silent: true,
    vhostBuckets: false,
    configureBuckets: buckets.map((name) => ({ name })),
  });
  await app.configureBuckets();
  const s3rverHandler = app.callback();
  const uploadsOf = (bucket: string) => path.join(directory, bucket, UPLOADS);

  const requests: string[] = [];
  const server = http.createServer((request, response) => {
    const url = new URL(request.url ?? "/", "http://s3rver");
    const query = [...new Set(url.searchParams.keys())]
      .filter((name) => name !== "x-id")
      .sort()
      .join("&");
    requests.push(`${request.method} ${decodeURIComponent(url.pathname)}${query ? `?${query}` : ""}`);
    handleRequest(request, response, uploadsOf, s3rverHandler).catch((error: unknown) => {
      sendError(response, 500, "InternalError", error instanceof Error ? error.message : String(error));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address() as AddressInfo;
  const [bucket = "herald-test"] = buckets;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    region,
    accessKeyId: ACCESS_KEY,
    secretAccessKey: ACCESS_KEY,
    readOnlyAccessKeyId: READ_ONLY_KEY,
    readOnlySecretAccessKey: READ_ONLY_KEY,
    bucket,
    directory,
    requests,
    async multipartUploads(name = bucket) {
      return (await listUploads(uploadsOf(name), "")).map(({ key, uploadId, initiated }) => ({
        key,
        uploadId,
        initiated,
      }));
    },
    async ageBucket(ageMs, name = bucket) {
      const then = new Date(Date.now() - ageMs);
      const files = await fs.readdir(path.join(directory, name), { recursive: true, withFileTypes: true });
      for (const file of files) {
        if (file.isFile()) await fs.utimes(path.join(file.parentPath, file.name), then, then);
      }
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      app.logger.close();
      await fs.rm(directory, { recursive: true, force: true });
    },
  };
}

async function handleRequest(
  request: http.IncomingMessage,
  response: http.ServerResponse,
  uploadsOf: (bucket: string) => string,
  s3rverHandler: http.RequestListener,
): Promise<void> {
  const url = new URL(request.url ?? "/", "http://s3rver");
  const accessKeyId = accessKeyOf(request, url);
  const method = request.method ?? "GET";
  if (accessKeyId === READ_ONLY_KEY && (method === "PUT" || method === "POST" || method === "DELETE")) {
    request.resume();
    return sendError(response, 403, "AccessDenied", "Access Denied");
  }
  const [bucket = "", ...keyParts] = url.pathname.split("/").slice(1).map(decodeURIComponent);
  const key = keyParts.join("/");
  const uploadId = url.searchParams.get("uploadId");
  const shimmed =
    (method === "GET" && bucket && !key && url.searchParams.has("uploads")) ||
    (method === "GET" && key && uploadId) ||
    (method === "DELETE" && key && uploadId);
  if (!shimmed) return s3rverHandler(request, response);

  request.resume();
  if (accessKeyId !== ACCESS_KEY && accessKeyId !== READ_ONLY_KEY) {
    return sendError(
      response,
      403,
      "InvalidAccessKeyId",
      "The AWS Access Key Id you provided does not exist in our records.",
    );
  }
  if (!(await exists(path.join(uploadsOf(bucket), "..")))) {
    return sendError(response, 404, "NoSuchBucket", "The specified bucket does not exist");
  }
  if (!key) {
    return listMultipartUploads(response, bucket, uploadsOf(bucket), url.searchParams.get("prefix") ?? "");
  }
  const uploadDirectory = path.join(uploadsOf(bucket), path.basename(uploadId ?? ""));
  const storedKey = await fs.readFile(path.join(uploadDirectory, "key"), "utf8").catch(() => undefined);
  if (storedKey !== key) {
    return sendError(response, 404, "NoSuchUpload", "The specified upload does not exist.");
  }
  if (method === "DELETE") {
    await fs.rm(uploadDirectory, { recursive: true, force: true });
    response.writeHead(204).end();
    return;
  }
  return listParts(response, bucket, key, uploadId ?? "", uploadDirectory);
}

/** The access key id of a request signed with Signature V4 (header or query), if any. */
function accessKeyOf(request: http.IncomingMessage, url: URL): string | undefined {
  const credential =
    /Credential=([^/,\s]+)/.exec(request.headers.authorization ?? "")?.[1] ??
    url.searchParams.get("X-Amz-Credential")?.split("/")[0];
  return credential ?? undefined;
}

interface StoredUpload {
  key: string;
  uploadId: string;
  initiated: Date;
  directory: string;
}

async function listUploads(uploadsDirectory: string, prefix: string): Promise<StoredUpload[]> {
  const ids = await fs.readdir(uploadsDirectory).catch(() => [] as string[]);
  const uploads: StoredUpload[] = [];
  for (const uploadId of ids) {
    const directory = path.join(uploadsDirectory, uploadId);
    const keyFile = path.join(directory, "key");
    const key = await fs.readFile(keyFile, "utf8").catch(() => undefined);
    if (key === undefined || !key.startsWith(prefix)) continue;
    uploads.push({ key, uploadId, initiated: (await fs.stat(keyFile)).mtime, directory });
  }
  return uploads.sort((a, b) => a.key.localeCompare(b.key) || a.initiated.getTime() - b.initiated.getTime());
}

async function listMultipartUploads(
  response: http.ServerResponse,
  bucket: string,
  uploadsDirectory: string,
  prefix: string,
): Promise<void> {
  const uploads = await listUploads(uploadsDirectory, prefix);
  sendXml(
    response,
    "ListMultipartUploadsResult",
    [
      element("Bucket", bucket),
      element("KeyMarker", ""),
      element("UploadIdMarker", ""),
      element("Prefix", prefix),
      element("MaxUploads", "1000"),
      element("IsTruncated", "false"),
      ...uploads.map(
        (upload) =>
          `<Upload>${element("Key", upload.key)}${element("UploadId", upload.uploadId)}${element("StorageClass", "STANDARD")}${element("Initiated", upload.initiated.toISOString())}</Upload>`,
      ),
    ].join(""),
  );
}

async function listParts(
  response: http.ServerResponse,
  bucket: string,
  key: string,
  uploadId: string,
  uploadDirectory: string,
): Promise<void> {
  const files = await fs.readdir(uploadDirectory);
  const parts: string[] = [];
  const numbers = files
    .filter((file) => /^\d+$/.test(file))
    .map(Number)
    .sort((a, b) => a - b);
  for (const number of numbers) {
    const file = path.join(uploadDirectory, String(number));
    const stats = await fs.stat(file);
    const md5 = await fs.readFile(`${file}.md5`, "utf8").catch(() => "");
    parts.push(
      `<Part>${element("PartNumber", String(number))}${element("LastModified", stats.mtime.toISOString())}${element("ETag", `"${md5}"`)}${element("Size", String(stats.size))}</Part>`,
    );
  }
  sendXml(
    response,
    "ListPartsResult",
    [
      element("Bucket", bucket),
      element("Key", key),
      element("UploadId", uploadId),
      element("StorageClass", "STANDARD"),
      element("PartNumberMarker", "0"),
      element("MaxParts", "10000"),
      element("IsTruncated", "false"),
      ...parts,
    ].join(""),
  );
}

async function exists(file: string): Promise<boolean> {
  return fs.stat(file).then(
    () => true,
    () => false,
  );
}

const escapeXml = (text: string) => text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

const element = (name: string, text: string) => `<${name}>${escapeXml(text)}</${name}>`;

function sendXml(response: http.ServerResponse, root: string, body: string): void {
  response
    .writeHead(200, { "content-type": "application/xml" })
    .end(
      `<?xml version="1.0" encoding="UTF-8"?>\n<${root} xmlns="http://s3.amazonaws.com/doc/2006-03-01/">${body}</${root}>`,
    );
}

function sendError(response: http.ServerResponse, status: number, code: string, message: string): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  response
    .writeHead(status, { "content-type": "application/xml" })
    .end(
      `<?xml version="1.0" encoding="UTF-8"?>\n<Error>${element("Code", code)}${element("Message", message)}</Error>`,
    );
}
