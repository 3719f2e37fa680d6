SELECT id, qty // 3 AS third FROM orders WHERE qty IS NOT NULL
