--
-- outcomes: every sandbox test number of MTN's sandbox, requested from SQL
-- and followed by the worker until MTN's answer is final.  Runs against the
-- local sandbox and, in live mode, against MTN's own sandbox.
--
CREATE TEMP TABLE cases (msisdn text PRIMARY KEY, label text, ref uuid);
INSERT INTO cases (msisdn, label) VALUES
    ('46733123450', 'Failed'),
    ('46733123451', 'Rejected'),
    ('46733123452', 'Timeout'),
    ('46733123455', 'NotFound'),
    ('46733123456', 'PayeeNotAllowedToReceive'),
    ('46733123457', 'NotAllowed'),
    ('46733123458', 'NotAllowedTargetEnvironment'),
    ('46733123459', 'InvalidCallbackUrlHost'),
    ('46733123460', 'InvalidCurrency'),
    ('46733123461', 'InternalProcessingError'),
    ('46733123462', 'ServiceUnavailable'),
    ('46733123463', 'CouldNotPerformTransaction'),
    ('46733123464', 'TransfertypeUnknown'),
    ('56733123453', 'Success'),
    ('250788123456', 'any other number');

-- One transaction queues them all; the worker sends them when it commits.
BEGIN;
UPDATE cases SET ref = momo_request_to_pay(2.50, 'EUR', msisdn, 'OUT-' || label,
                                          'Outcome test', 'momo regression');
SELECT count(*) AS queued FROM momo_payments p JOIN cases c ON c.ref = p.reference_id
 WHERE p.status = 'queued' AND p.attempts = 0;
COMMIT;

SELECT c.msisdn, c.label, o.status, o.reason, o.has_ftid, o.attempts
  FROM cases c, LATERAL momo_test.outcome(c.ref) o
 ORDER BY c.msisdn;

-- The worker sent each payment once and recorded what MTN said.
SELECT count(*) FILTER (WHERE p.sent_at IS NOT NULL AND p.completed_at >= p.sent_at) AS completed_after_sent,
       count(*) FILTER (WHERE p.last_http_status = 200) AS last_answer_200,
       count(*) FILTER (WHERE p.external_id = 'OUT-' || c.label) AS external_ids_kept
  FROM cases c JOIN momo_payments p ON p.reference_id = c.ref;

-- Ongoing (PENDING for minutes) and Delayed (CREATED for a long time) stay pending.
SELECT momo_request_to_pay(1, 'EUR', '46733123453', 'OUT-Ongoing') AS ongoing \gset
SELECT momo_request_to_pay(1, 'EUR', '46733123454', 'OUT-Delayed') AS delayed \gset
SELECT momo_test.wait_sent(:'ongoing') AS ongoing, momo_test.wait_sent(:'delayed') AS delayed;
SELECT status, reason, completed_at IS NULL AS open FROM momo_await(:'ongoing', '1 second');
SELECT status, reason, completed_at IS NULL AS open FROM momo_payment_status(:'delayed');
SELECT status, completed_at IS NULL AS open FROM momo_payment_status(:'ongoing');
