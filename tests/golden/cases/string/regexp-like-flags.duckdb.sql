SELECT id, status, regexp_matches(status, 'PAID', 'i') AS m FROM orders
