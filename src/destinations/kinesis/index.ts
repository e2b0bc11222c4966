import { DescribeStreamSummaryCommand } from "@aws-sdk/client-kinesis";
import { HeraldError } from "../../errors/index.ts";
import type { DestinationDefinition, StreamConnector } from "../types.ts";
import {
  createKinesisClient,
  type KinesisConnection,
  type KinesisDetails,
  kinesisConnectionSchema,
  kinesisDetailsSchema,
  kinesisSecretFields,
} from "./connection.ts";
import { kinesisError } from "./kinesis-errors.ts";
import { kinesisLimits, putRecords } from "./put-records.ts";

export const kinesisConnector: StreamConnector<KinesisConnection, KinesisDetails> = {
  kind: "stream",
  limits: kinesisLimits,
  /**
   * DescribeStreamSummary: proves the keys are valid, the stream exists in the region and is active.
   * It cannot prove kinesis:PutRecords without writing a record, which validation must not do.
   */
  async validate(connection, details, signal) {
    const client = createKinesisClient(connection);
    const where = { region: connection.region, streamName: details.streamName };
    try {
      const { StreamDescriptionSummary: summary } = await client.send(
        new DescribeStreamSummaryCommand({ StreamName: details.streamName }),
        signal ? { abortSignal: signal } : {},
      );
      const status = summary?.StreamStatus;
      if (status === "DELETING")
        throw new HeraldError(
          "not_found",
          "stream_not_found",
          `Kinesis stream '${details.streamName}' is being deleted`,
        );
      if (status === "CREATING")
        throw new HeraldError(
          "unavailable",
          "stream_not_active",
          `Kinesis stream '${details.streamName}' is still being created; try again in a minute`,
        );
    } catch (error) {
      throw kinesisError(error, where);
    } finally {
      client.destroy();
    }
  },
  async open(connection, details) {
    const client = createKinesisClient(connection);
    const where = { region: connection.region, streamName: details.streamName };
    return {
      sendBatch: (records, signal) => putRecords(client, where, records, signal),
      close: async () => client.destroy(),
    };
  },
};

/** Amazon Kinesis Data Streams: one record per message, partition key = the message's key (per profile). */
export const kinesisDestination: DestinationDefinition<KinesisConnection, KinesisDetails> = {
  id: "amazon-kinesis",
  name: "Amazon Kinesis",
  description: "Stream audience changes to an Amazon Kinesis data stream, one JSON record per profile",
  category: "streaming",
  exportType: "segment",
  connectionSchema: kinesisConnectionSchema,
  secretFields: kinesisSecretFields,
  detailsSchema: kinesisDetailsSchema,
  connector: kinesisConnector,
};
