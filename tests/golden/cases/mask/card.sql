-- input: orders
-- check: hand: mask_card (with the Luhn check) is an engine function DuckDB lacks
SELECT id, card, mask_card(card) AS m FROM orders
