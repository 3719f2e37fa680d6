-- input: months
-- check: duckdb
SELECT date_trunc('month', ts) AS m, date_trunc('year', ts) AS y, count(*) AS c FROM months GROUP BY date_trunc('month', ts), date_trunc('year', ts)
