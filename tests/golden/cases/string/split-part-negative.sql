-- input: orders
-- check: hand: split_part with a negative field counts from the end (PostgreSQL 14+); checked by hand against PostgreSQL's rule
SELECT id, name, split_part(name, ',', -1) AS last FROM orders WHERE name IS NOT NULL
