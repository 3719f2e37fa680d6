SELECT id, ts + INTERVAL '90 minutes' AS t FROM orders
