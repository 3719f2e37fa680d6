SELECT id, CAST(date_trunc('month', day) AS TIMESTAMP) AS m FROM orders
