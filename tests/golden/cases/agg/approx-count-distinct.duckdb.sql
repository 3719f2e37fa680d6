SELECT customer, count(DISTINCT name) AS names FROM orders GROUP BY customer
