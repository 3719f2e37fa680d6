-- input: orders
-- check: duckdb
select ID, Amount from ORDERS where QTY >= 10
