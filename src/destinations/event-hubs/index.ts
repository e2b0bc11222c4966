import type { DestinationDefinition, StreamConnector } from "../types.ts";
import {
  createProducer,
  describeNamespace,
  type EventHubsConnection,
  type EventHubsDetails,
  eventHubsConnectionSchema,
  eventHubsDetailsSchema,
  eventHubsSecretFields,
} from "./connection.ts";
import { eventHubsError } from "./event-hubs-errors.ts";
import { eventHubsLimits, type PartitionCache, sendEvents } from "./send-events.ts";

const whereOf = (connection: EventHubsConnection, details: EventHubsDetails) => ({
  ...describeNamespace(connection),
  eventHubName: details.eventHubName,
});

export const eventHubsConnector: StreamConnector<EventHubsConnection, EventHubsDetails> = {
  kind: "stream",
  limits: eventHubsLimits,
  /**
   * Reads the hub's properties through the management node (the key is valid, the hub exists),
   * then opens a sender link without sending anything (the policy holds the Send claim).
   */
  async validate(connection, details, signal) {
    const producer = createProducer(connection, details, 15_000);
    try {
      await producer.getEventHubProperties({ abortSignal: signal });
      await producer.createBatch({ abortSignal: signal });
    } catch (error) {
      throw eventHubsError(error, whereOf(connection, details));
    } finally {
      await producer.close().catch(() => {});
    }
  },
  async open(connection, details) {
    const producer = createProducer(connection, details);
    const partitions: PartitionCache = { ids: [], readAt: 0 };
    const where = whereOf(connection, details);
    return {
      sendBatch: (records, signal) => sendEvents(producer, partitions, where, records, signal),
      close: () => producer.close(),
    };
  },
};

/** Azure Event Hubs: one JSON event per message, a profile's events on one partition in order. */
export const eventHubsDestination: DestinationDefinition<EventHubsConnection, EventHubsDetails> = {
  id: "azure-event-hubs",
  name: "Azure Event Hubs",
  description:
    "Stream audience changes to an Azure event hub, one JSON event per profile, in order per profile",
  category: "streaming",
  exportType: "segment",
  connectionSchema: eventHubsConnectionSchema,
  secretFields: eventHubsSecretFields,
  detailsSchema: eventHubsDetailsSchema,
  connector: eventHubsConnector,
};
