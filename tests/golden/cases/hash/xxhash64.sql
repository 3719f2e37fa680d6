-- input: orders
-- check: hand: xxhash64 is an engine function DuckDB lacks; e and abc are XXH64's published seed-0 digests (0xEF46DB3751D8E999, 0x44BC2CF5AD770999) read as signed int64
SELECT id, name, xxhash64(name) AS h, xxhash64('') AS e, xxhash64('abc') AS abc FROM orders WHERE id <= 10
