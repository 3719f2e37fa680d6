SELECT id, trim(name, ' a') AS t FROM orders
