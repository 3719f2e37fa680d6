-- input: orders
-- check: hand: xxhash64 is an engine function (same bits as ClickHouse xxHash64); DuckDB lacks it; empty-string value is XXH64's published seed-0 digest
SELECT id, name, xxhash64(name) AS h FROM orders WHERE id <= 10
