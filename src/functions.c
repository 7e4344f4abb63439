/*-------------------------------------------------------------------------
 *
 * functions.c
 *	  The SQL-callable functions: momo_request_to_pay queues a payment (sent
 *	  by the worker after commit), momo_payment_status asks MTN now, and
 *	  momo_await sleeps until a payment is final.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "commands/dbcommands.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgstat.h"
#include "storage/condition_variable.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "api.h"
#include "momo.h"
#include "settings.h"
#include "store.h"
#include "validate.h"

PG_FUNCTION_INFO_V1(momo_request_to_pay);
PG_FUNCTION_INFO_V1(momo_payment_status);
PG_FUNCTION_INFO_V1(momo_await);

/* Returns a fresh UUID version 4 in its text form. */
static char *
new_reference_id(void)
{
	unsigned char b[16];

	if (!pg_strong_random(b, sizeof(b)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("momo: could not generate a random reference id")));
	b[6] = (b[6] & 0x0f) | 0x40;	/* version 4 */
	b[8] = (b[8] & 0x3f) | 0x80;	/* RFC 4122 variant */
	return psprintf("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
					b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
					b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

/* Refuses to queue payments in a database the worker does not serve. */
static void
require_worker_database(void)
{
	char	   *here = get_database_name(MyDatabaseId);

	if (here && strcmp(here, momo_database_name) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("momo's worker serves database \"%s\", not \"%s\"", momo_database_name, here),
				 errdetail("A payment queued here would never be sent."),
				 errhint("Set momo.database_name = '%s' in postgresql.conf and restart the server.", here)));
}

/* Returns the uuid argument argno as text, raising an ERROR naming it if NULL. */
static char *
reference_arg(FunctionCallInfo fcinfo, int argno)
{
	momo_require_arg(fcinfo, argno, "reference_id");
	return DatumGetCString(DirectFunctionCall1(uuid_out, PG_GETARG_DATUM(argno)));
}

/* Raises the ERROR for a reference id that names no payment. */
static void
raise_no_payment(const char *ref)
{
	ereport(ERROR,
			(errcode(ERRCODE_NO_DATA_FOUND),
			 errmsg("momo: no payment has reference_id %s", ref),
			 errhint("Reference ids are returned by momo_request_to_pay and stored in momo_payments.")));
}

/*
 * momo_request_to_pay(amount, currency, msisdn, external_id, payer_message,
 * payee_note): checks everything, writes a queued payment and returns its
 * reference id.  The worker is woken when the transaction commits.
 */
Datum
momo_request_to_pay(PG_FUNCTION_ARGS)
{
	MomoConfig	cfg;
	MomoPaymentTerms terms;
	char	   *schema;
	int			rc;

	momo_require_preload();
	momo_config_require(&cfg, MOMO_COLLECTION);
	momo_validate_request_to_pay(fcinfo, &cfg, &terms);
	require_worker_database();

	terms.reference_id = new_reference_id();
	if (terms.external_id == NULL)
		terms.external_id = terms.reference_id;

	schema = momo_store_function_schema(fcinfo);
	if ((rc = SPI_connect()) != SPI_OK_CONNECT)
		elog(ERROR, "momo: SPI_connect failed: %s", SPI_result_code_string(rc));
	momo_store_insert(schema, &terms);
	SPI_finish();

	momo_wake_worker_at_commit();
	PG_RETURN_DATUM(DirectFunctionCall1(uuid_in, CStringGetDatum(terms.reference_id)));
}

/* Exchange callback of momo_payment_status: records the answer, keeping the worker's schedule. */
static void
record_status_answer(MomoCall *call, MomoAnswer *answer, void *arg)
{
	MomoPayment *p = (MomoPayment *) call->context;
	const char *schema = (const char *) arg;

	if (momo_store_record(schema, p, MOMO_OP_STATUS, answer, false))
		momo_announce_final_at_commit();
	if (answer->verdict != MOMO_PENDING && answer->verdict != MOMO_SUCCESSFUL &&
		answer->verdict != MOMO_FAILED)
		ereport(NOTICE,
				(errmsg("momo: MTN gave no status for payment %s", p->terms.reference_id),
				 errdetail("%s", answer->error ? answer->error : "no detail")));
}

/*
 * momo_payment_status(reference_id): asks MTN for the payment's status now,
 * records the answer and returns the row.  A final payment, or one not sent
 * yet, is returned as it is.
 */
Datum
momo_payment_status(PG_FUNCTION_ARGS)
{
	char	   *ref = reference_arg(fcinfo, 0);
	char	   *schema = momo_store_function_schema(fcinfo);
	MomoPayment p;
	MomoConfig	cfg;
	MomoCall	call;
	MomoTokenResult r;
	char	   *error = NULL;
	int			rc;

	momo_require_preload();
	if ((rc = SPI_connect()) != SPI_OK_CONNECT)
		elog(ERROR, "momo: SPI_connect failed: %s", SPI_result_code_string(rc));
	if (!momo_store_fetch(schema, ref, &p))
		raise_no_payment(ref);
	if (p.final || (p.queued && p.attempts == 0))
	{
		SPI_finish();
		PG_RETURN_DATUM(p.row);
	}

	momo_config_require(&cfg, MOMO_COLLECTION);
	memset(&call, 0, sizeof(call));
	call.op = MOMO_OP_STATUS;
	call.terms = &p.terms;
	call.context = &p;
	pgstat_report_activity(STATE_RUNNING, "momo: asking MTN for a payment status");
	r = momo_exchange(momo_http_client(), &cfg, &call, 1, 1, record_status_answer, NULL, schema, &error);
	if (r != MOMO_TOKEN_OK)
		momo_raise_token_error(&cfg, r, error);

	if (!momo_store_fetch(schema, ref, &p))
		raise_no_payment(ref);
	SPI_finish();
	PG_RETURN_DATUM(p.row);
}

/* Converts an interval to milliseconds, raising an ERROR if it is negative. */
static int64
interval_ms(Interval *iv)
{
	int64		ms = iv->time / 1000 +
		((int64) iv->day + (int64) iv->month * DAYS_PER_MONTH) * SECS_PER_DAY * 1000;

	if (ms < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("timeout must not be negative")));
	return ms;
}

/*
 * momo_await(reference_id, timeout): waits, without polling MTN or the table
 * in a busy loop, until the payment is final or the timeout passes; returns
 * the row.  The worker wakes waiters when it records a final status.
 */
Datum
momo_await(PG_FUNCTION_ARGS)
{
	char	   *ref = reference_arg(fcinfo, 0);
	char	   *schema = momo_store_function_schema(fcinfo);
	TimestampTz deadline;
	MomoPayment p;
	int64		timeout;
	int			rc;

	momo_require_preload();
	momo_require_arg(fcinfo, 1, "timeout");
	timeout = interval_ms(PG_GETARG_INTERVAL_P(1));
	if (IsolationUsesXactSnapshot())
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("momo_await cannot see the worker's updates at isolation level %s",
						XactIsoLevel == XACT_SERIALIZABLE ? "SERIALIZABLE" : "REPEATABLE READ"),
				 errhint("Call momo_await in a READ COMMITTED transaction.")));
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), Min(timeout, PG_INT32_MAX));

	ConditionVariablePrepareToSleep(&momo_shared->finished_cv);
	for (;;)
	{
		long		remaining;

		if ((rc = SPI_connect()) != SPI_OK_CONNECT)
			elog(ERROR, "momo: SPI_connect failed: %s", SPI_result_code_string(rc));
		if (!momo_store_fetch(schema, ref, &p))
			raise_no_payment(ref);
		SPI_finish();
		if (p.final)
			break;
		if (TransactionIdIsCurrentTransactionId(p.xmin))
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("momo_await cannot wait for payment %s: it was requested in this transaction", ref),
					 errdetail("Nothing is sent before the transaction that requested the payment commits."),
					 errhint("Commit first, then call momo_await.")));
		remaining = (long) ((deadline - GetCurrentTimestamp()) / 1000);
		if (remaining <= 0)
			break;
		/* Woken by the worker; the one-second cap covers finishes announced elsewhere. */
		ConditionVariableTimedSleep(&momo_shared->finished_cv, Min(remaining, 1000L),
									PG_WAIT_EXTENSION);
	}
	ConditionVariableCancelSleep();
	PG_RETURN_DATUM(p.row);
}
