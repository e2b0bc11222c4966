import type { EventDataBatch, EventHubProducerClient } from "@azure/event-hubs";
import { type Chunk, failChunks, keepKeyOrder } from "../stream-batching.ts";
import type { BatchResult, OutboundRecord, StreamLimits } from "../types.ts";
import { eventHubsError } from "./event-hubs-errors.ts";
import { partitionIndexForKey } from "./partition-key-hash.ts";

/**
 * One AMQP message on a Standard namespace holds 1 MB; a batch of events is one message and
 * succeeds or fails whole. The session cuts larger batches itself (see `sendEvents`).
 */
export const eventHubsLimits: StreamLimits = {
  maxBatchRecords: 1_000,
  maxBatchBytes: 1024 * 1024,
  maxRecordBytes: 1024 * 1024 - 1024,
  maxConcurrency: 4,
};

/** Partition ids are read again after this long: Premium and Dedicated hubs can gain partitions. */
const partitionIdsMaxAge = 5 * 60_000;

export interface PartitionCache {
  ids: string[];
  readAt: number;
}

type Where = { namespace: string; eventHubName: string; keyName: string };

/**
 * Sends records to an event hub keeping each profile's order.
 *
 * Order per key needs one partition per key and in-order appends to it. Sending with a
 * `partitionKey` lets the service pick the partition, but a batch then holds one key only: a batch
 * of 1,000 profiles would be 1,000 sends. Sending without a key spreads a profile over partitions
 * and loses its order. So the session does what the SDK's buffered producer does: it hashes each key
 * with the service's own function to its partition (the same partition `partitionKey` would pick),
 * groups the batch per partition in order, and sends one AMQP batch per partition (more when over
 * 1 MB), partitions in parallel, each partition's batches one after the other. The price: events
 * carry no `x-opt-partition-key` annotation (the SDK refuses a key on a partition batch); the key is
 * in the payload.
 *
 * When a partition's send fails, that batch and the partition's later batches are reported failed
 * (retryable as the error says); other partitions' records stand. If every send failed, the call
 * rejects with the error, as a batch that failed whole.
 */
export async function sendEvents(
  producer: EventHubProducerClient,
  partitions: PartitionCache,
  where: Where,
  records: readonly OutboundRecord[],
  signal?: AbortSignal,
): Promise<BatchResult> {
  const ids = await partitionIds(producer, partitions, where, signal);
  const groups = new Map<string, number[]>();
  records.forEach((record, index) => {
    const id = ids[partitionIndexForKey(record.key, ids.length)] ?? ids[0] ?? "0";
    const group = groups.get(id);
    if (group) group.push(index);
    else groups.set(id, [index]);
  });
  const failed: BatchResult["failed"] = [];
  const outcomes = await Promise.all(
    [...groups].map(async ([partitionId, indexes]) => {
      let pending: { batch: EventDataBatch; chunk: Chunk } | undefined;
      const batches: { batch: EventDataBatch; chunk: Chunk }[] = [];
      try {
        for (const index of indexes) {
          // The JSON text's bytes, as the SDK would encode the parsed object (a data section).
          const json = records[index]?.json ?? "";
          const event = { body: Buffer.from(json), contentType: "application/json" };
          if (!pending)
            pending = { batch: await producer.createBatch({ partitionId, abortSignal: signal }), chunk: [] };
          if (pending.batch.tryAdd(event)) {
            pending.chunk.push(index);
            continue;
          }
          if (pending.chunk.length) {
            batches.push(pending);
            pending = { batch: await producer.createBatch({ partitionId, abortSignal: signal }), chunk: [] };
            if (pending.batch.tryAdd(event)) {
              pending.chunk.push(index);
              continue;
            }
          }
          failed.push({
            index,
            retryable: false,
            error: `event of ${Buffer.byteLength(json)} bytes is over the event hub's message size of ${pending.batch.maxSizeInBytes} bytes`,
          });
        }
        if (pending?.chunk.length) batches.push(pending);
      } catch (error) {
        const mapped = eventHubsError(error, where);
        const refused = new Set(failed.map((f) => f.index));
        failed.push(...failChunks([indexes.filter((i) => !refused.has(i))], mapped));
        return { sent: 0, error: mapped };
      }
      let sent = 0;
      for (const [b, { batch, chunk }] of batches.entries()) {
        try {
          await producer.sendBatch(batch, { abortSignal: signal });
          sent += chunk.length;
        } catch (error) {
          const mapped = eventHubsError(error, where);
          failed.push(
            ...failChunks(
              batches.slice(b).map((x) => x.chunk),
              mapped,
            ),
          );
          return { sent, error: mapped };
        }
      }
      return { sent, error: undefined };
    }),
  );
  const firstError = outcomes.find((o) => o.error)?.error;
  if (firstError && outcomes.every((o) => o.sent === 0)) throw firstError;
  return {
    failed: keepKeyOrder(
      records,
      failed.sort((x, y) => x.index - y.index),
    ),
  };
}

async function partitionIds(
  producer: EventHubProducerClient,
  cache: PartitionCache,
  where: Where,
  signal?: AbortSignal,
): Promise<string[]> {
  if (cache.ids.length && Date.now() - cache.readAt < partitionIdsMaxAge) return cache.ids;
  try {
    const ids = await producer.getPartitionIds({ abortSignal: signal });
    cache.ids = [...ids].sort((a, b) => Number(a) - Number(b));
    cache.readAt = Date.now();
    return cache.ids;
  } catch (error) {
    throw eventHubsError(error, where);
  }
}
