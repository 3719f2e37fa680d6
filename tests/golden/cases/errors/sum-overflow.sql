-- input: nums
-- check: hand: sum of int64 past 2^63: checked by hand for the engine's overflow behaviour (DuckDB sums into HUGEINT)
SELECT sum(a) AS s FROM nums WHERE a > 0
