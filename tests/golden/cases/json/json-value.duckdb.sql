SELECT id, json_extract_string(payload, '$.a') AS a, json_extract_string(payload, '$.k') AS k FROM orders WHERE payload <> 'not json'
