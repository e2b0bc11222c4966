export { type AlertNotifier, type AlertNotifierOptions, createAlertNotifier } from "./notifier.ts";
export {
  ALERT_EVENTS,
  type AlertDelivery,
  type AlertEvent,
  type AlertSubscription,
  type AlertSubscriptionInput,
  alertSubscriptionInputSchema,
  createAlertSubscription,
  deleteAlertSubscription,
  getAlertSubscription,
  listAlertDeliveries,
  listAlertSubscriptions,
} from "./subscriptions.ts";
