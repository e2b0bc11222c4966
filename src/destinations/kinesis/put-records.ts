import { type KinesisClient, PutRecordsCommand, type PutRecordsCommandOutput } from "@aws-sdk/client-kinesis";
import { chunkRecords, failChunks, keepKeyOrder } from "../stream-batching.ts";
import type { BatchResult, OutboundRecord, StreamLimits } from "../types.ts";
import { kinesisError } from "./kinesis-errors.ts";

/** PutRecords quotas: 500 records and 5 MiB per call, 1 MiB per record (data + partition key). */
export const kinesisLimits: StreamLimits = {
  maxBatchRecords: 500,
  maxBatchBytes: 5 * 1024 * 1024,
  maxRecordBytes: 1024 * 1024,
  maxConcurrency: 4,
};

/** Kinesis caps partition keys at 256 characters. */
const maxPartitionKeyLength = 256;

/**
 * Sends records with PutRecords, one call per 500 records / 5 MiB, in order. Each record's
 * partition key is its `key` (one per profile and dataflow), so a profile's records share a shard and keep
 * their order there. Records the service refuses one by one (ProvisionedThroughputExceeded,
 * InternalFailure) come back as retryable failures; when a whole call fails, the batch rejects if
 * nothing was sent yet, otherwise that call's records and every later one are reported failed.
 */
export async function putRecords(
  client: KinesisClient,
  where: { region: string; streamName: string },
  records: readonly OutboundRecord[],
  signal?: AbortSignal,
): Promise<BatchResult> {
  const encoded = records.map((r) => Buffer.from(r.json));
  const { chunks, tooLarge } = chunkRecords(
    records,
    {
      maxRecords: kinesisLimits.maxBatchRecords,
      maxBytes: kinesisLimits.maxBatchBytes,
      maxRecordBytes: kinesisLimits.maxRecordBytes,
    },
    (record, index) => (encoded[index]?.length ?? 0) + Buffer.byteLength(record.key),
  );
  const failed = [...tooLarge];
  for (const [i, record] of records.entries()) {
    if (!record.key || record.key.length > maxPartitionKeyLength)
      failed.push({
        index: i,
        retryable: false,
        error: "key must be 1-256 characters (Kinesis partition key)",
      });
  }
  const invalid = new Set(failed.map((f) => f.index));
  const sendable = chunks.map((chunk) => chunk.filter((i) => !invalid.has(i))).filter((c) => c.length);
  for (const [c, chunk] of sendable.entries()) {
    let response: PutRecordsCommandOutput;
    try {
      response = await client.send(
        new PutRecordsCommand({
          StreamName: where.streamName,
          Records: chunk.map((i) => ({
            PartitionKey: records[i]?.key,
            Data: encoded[i],
          })),
        }),
        signal ? { abortSignal: signal } : {},
      );
    } catch (error) {
      const mapped = kinesisError(error, where);
      if (c === 0) throw mapped;
      failed.push(...failChunks(sendable.slice(c), mapped));
      break;
    }
    response.Records?.forEach((result, position) => {
      const index = chunk[position];
      if (index === undefined || !result.ErrorCode) return;
      failed.push({
        index,
        retryable: true,
        error: `${result.ErrorCode}: ${result.ErrorMessage ?? ""}`.trim(),
      });
    });
  }
  return { failed: keepKeyOrder(records, failed) };
}
