SELECT id, json_extract_string(payload, '$.n.b[1]') AS b FROM orders WHERE payload <> 'not json'
