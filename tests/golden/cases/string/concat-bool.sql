-- input: orders
-- check: hand: concat of a boolean is t/f in PostgreSQL; DuckDB writes true/false
SELECT id, concat('p=', paid) AS c, 'p=' || paid AS o FROM orders WHERE id <= 10
