import { KinesisClient } from "@aws-sdk/client-kinesis";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { z } from "zod";
import { urlWithoutCredentials } from "../shown-url.ts";

/** Credentials and endpoint of an Amazon Kinesis account. */
export const kinesisConnectionSchema = z.object({
  region: z
    .string()
    .regex(/^[a-z]{2}(-[a-z]+)+-\d+$/, "an AWS region such as eu-west-1")
    .describe("AWS region of the stream, e.g. eu-west-1"),
  accessKeyId: z.string().min(16).max(128).describe("Access key id of an IAM user or role"),
  secretAccessKey: z.string().min(1).describe("Secret access key"),
  endpoint: urlWithoutCredentials("accessKeyId and secretAccessKey")
    .optional()
    .describe("Custom endpoint (VPC endpoint, LocalStack, kinesalite); the AWS endpoint when empty"),
});

/** Which stream a dataflow writes to. */
export const kinesisDetailsSchema = z.object({
  streamName: z
    .string()
    .regex(/^[a-zA-Z0-9_.-]{1,128}$/, "1-128 letters, digits, '_', '.', '-'")
    .describe("Name of the Kinesis data stream"),
});

export type KinesisConnection = z.infer<typeof kinesisConnectionSchema>;
export type KinesisDetails = z.infer<typeof kinesisDetailsSchema>;

/** Fields of the connection that are secrets: sealed at rest, never shown. */
export const kinesisSecretFields = ["secretAccessKey"] as const;

/**
 * One SDK client per session. The SDK's own retries are off (`maxAttempts: 1`): the streaming
 * machinery owns retries and backoff, and double retries would multiply the delay of every fault.
 * The client speaks HTTP/1.1: the SDK's default for Kinesis is HTTP/2, which PutRecords does not
 * need and which kinesalite, LocalStack and many proxies in front of VPC endpoints do not speak.
 */
export function createKinesisClient(connection: KinesisConnection): KinesisClient {
  return new KinesisClient({
    region: connection.region,
    credentials: { accessKeyId: connection.accessKeyId, secretAccessKey: connection.secretAccessKey },
    ...(connection.endpoint ? { endpoint: connection.endpoint } : {}),
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler({ connectionTimeout: 5_000, requestTimeout: 30_000 }),
  });
}
