#!/usr/bin/env bash
# =============================================================================
# test/demo.sh -- `make demo`: from a fresh Debian 12 machine to a payment
# taken from SQL.  Installs what is missing, builds and installs momo and the
# local MoMo sandbox, starts the throwaway cluster (test/cluster.sh), then
# requests two payments from SQL -- one the payer approves, one the payer
# rejects -- waits for MTN's (the sandbox's) answers and prints the rows.
# =============================================================================
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$REPO"

bash test/install-deps.sh
make -s
if [ "$(id -u)" -eq 0 ]; then make -s install; else sudo make -s install; fi
make -s -C test/sandbox
test/cluster.sh start
eval "$(test/cluster.sh env)"

psql -X -q -v ON_ERROR_STOP=1 -d contrib_regression <<'SQL'
CREATE EXTENSION IF NOT EXISTS momo;
\pset footer off
\echo
\echo '== 1. Request payments from SQL (they are sent when the transaction commits)'
\echo
BEGIN;
SELECT momo_request_to_pay(15.00, 'EUR', '56733123453', 'DEMO-ORDER-1',
                           'Payment for order 1', 'momo demo') AS approved \gset
SELECT momo_request_to_pay(7.50, 'EUR', '46733123451', 'DEMO-ORDER-2',
                           'Payment for order 2', 'momo demo') AS rejected \gset
SELECT reference_id, external_id, amount, currency, msisdn, status
  FROM momo_payments WHERE reference_id IN (:'approved', :'rejected') ORDER BY external_id;
COMMIT;
\echo
\echo '== 2. The worker sends them to the MoMo sandbox and follows them until they are final'
\echo
SELECT (momo_await(:'approved', '30 seconds')).status AS order_1,
       (momo_await(:'rejected', '30 seconds')).status AS order_2;
\echo
\echo '== 3. The payments table now holds MTN''s answers'
\echo
SELECT reference_id, external_id, amount, currency, msisdn, status, reason,
       financial_transaction_id, attempts, last_http_status,
       completed_at - created_at AS took
  FROM momo_payments WHERE reference_id IN (:'approved', :'rejected') ORDER BY external_id \gx
SQL

cat <<DONE

The demo cluster is still running (PostgreSQL 15 with momo, and the local MoMo sandbox).
Connect with:   psql -h $PGHOST -p $PGPORT -U postgres contrib_regression
Try:            SELECT momo_request_to_pay(100, 'EUR', '46733123452', 'MY-1');
Stop it with:   test/cluster.sh stop
DONE
