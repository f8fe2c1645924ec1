-- migrate:up
-- A mistake on purpose: `orders` does not exist in this database, so this migration fails and
-- the demo shows the failure path (status failed, the error in the log tail, the notification).
INSERT INTO invoices (order_id) SELECT id FROM orders;

-- migrate:down
DELETE FROM invoices;
