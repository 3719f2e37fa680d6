-- input: nums
-- check: hand: sum over int64 is int64 here (documented); past 2^63 the group goes to the dead letters with the exact total; PostgreSQL (numeric) and DuckDB (HUGEINT) widen instead
SELECT sum(a) AS s FROM nums WHERE a > 0
