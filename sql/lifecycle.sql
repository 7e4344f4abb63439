--
-- lifecycle: the names momo's C code writes into momo_payments (statuses,
-- operations, products, party id types; src/lifecycle.h, src/protocol.c,
-- src/settings.c)
-- are exactly those its CHECK constraints allow, and every name any of its
-- constraints or index predicates spells is one of them.  The C names are
-- read from the sources by test/c-names.sh, so that a status added on one
-- side only fails here.
--
\set c_statuses `test/c-names.sh momo_status_names`
\set c_operations `test/c-names.sh momo_operation_names`
\set c_products `test/c-names.sh momo_product_names`
\set c_id_types `test/c-names.sh momo_id_type_names`

-- The CHECK constraint of each column, against the C table of its names.
SELECT c.col, c.c_names, k.allowed, c.c_names = k.allowed AS same
  FROM (VALUES (1, 'status', :'c_statuses'),
               (2, 'operation', :'c_operations'),
               (3, 'product', :'c_products'),
               (4, 'party_id_type', :'c_id_types')) AS c(n, col, c_names)
  LEFT JOIN LATERAL (
        SELECT string_agg(m[1], ',' ORDER BY m[1] COLLATE "C") AS allowed
          FROM pg_constraint con
          JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = ANY (con.conkey)
         CROSS JOIN regexp_matches(pg_get_constraintdef(con.oid), '''([a-z_]+)''::text', 'g') AS m
         WHERE con.conrelid = 'momo_payments'::regclass AND con.contype = 'c'
           AND cardinality(con.conkey) = 1 AND a.attname = c.col) AS k ON true
 ORDER BY c.n;

-- Names spelled by the other constraints and by index predicates that C
-- does not know: none.
SELECT DISTINCT m[1] AS unknown_name
  FROM (SELECT pg_get_constraintdef(oid) AS def FROM pg_constraint
         WHERE conrelid = 'momo_payments'::regclass
        UNION ALL
        SELECT pg_get_expr(indpred, indrelid) FROM pg_index
         WHERE indrelid = 'momo_payments'::regclass AND indpred IS NOT NULL) AS d
 CROSS JOIN regexp_matches(d.def, '''([a-z_]+)''::text', 'g') AS m
 WHERE m[1] <> ALL (string_to_array(:'c_statuses' || ',' || :'c_operations' || ',' || :'c_products' || ',' || :'c_id_types', ','));

-- The index predicates and constraints do spell names (the query above
-- would pass vacuously otherwise).
SELECT count(DISTINCT m[1]) > 0 AS names_found
  FROM pg_index i
 CROSS JOIN regexp_matches(pg_get_expr(i.indpred, i.indrelid), '''([a-z_]+)''::text', 'g') AS m
 WHERE i.indrelid = 'momo_payments'::regclass AND i.indpred IS NOT NULL;
