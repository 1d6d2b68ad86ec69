DROP TABLE IF EXISTS webhooks_deliveries;
DROP TABLE IF EXISTS webhooks_endpoints;
DROP TABLE IF EXISTS webhooks_outbox_events;
DROP TABLE IF EXISTS webhooks_orders;
