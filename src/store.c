/*-------------------------------------------------------------------------
 *
 * store.c
 *	  The payments table.  Rows are written before anything is sent; the
 *	  worker claims due rows with FOR UPDATE SKIP LOCKED and commits the claim
 *	  before any HTTP request leaves; each answer from MTN is recorded by one
 *	  UPDATE that never touches a final row and never moves a row back to
 *	  queued.  The retry and polling schedule is decided here too.
 *
 *	  Every function expects SPI to be connected by its caller.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/pg_prng.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"

#include "settings.h"
#include "store.h"

/* Columns read for a payment, in this order, after the whole row. */
#define PAYMENT_COLUMNS \
	"p.reference_id::text, p.amount::text, p.currency, p.msisdn, p.external_id, " \
	"p.payer_message, p.payee_note, p.status, p.attempts, p.status_checks, p.xmin"

/* Statements the worker runs for every payment, prepared once per schema. */
typedef struct StorePlans
{
	char	   *schema;
	SPIPlanPtr	claim_send;
	SPIPlanPtr	claim_check;
	SPIPlanPtr	record;
} StorePlans;

static StorePlans plans;

static char *spi_strdup(const char *s);

/* Raises an ERROR for a failed SPI call. */
static void
spi_check(int rc, int expected, const char *what)
{
	if (rc != expected)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("momo: %s failed: %s", what, SPI_result_code_string(rc))));
}

/*
 * Returns the quoted schema of the installed momo extension, in the memory of
 * SPI's caller, or NULL if the extension is not installed in this database.
 */
char *
momo_store_extension_schema(void)
{
	int			rc;
	bool		isnull;
	Datum		d;

	rc = SPI_execute("SELECT pg_catalog.quote_ident(n.nspname) "
					 "FROM pg_catalog.pg_extension e "
					 "JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace "
					 "WHERE e.extname = 'momo'", true, 1);
	spi_check(rc, SPI_OK_SELECT, "looking up the momo extension");
	if (SPI_processed == 0)
		return NULL;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	return spi_strdup(TextDatumGetCString(d));
}

/* Returns the quoted schema of the function being called (the extension's schema). */
char *
momo_store_function_schema(FunctionCallInfo fcinfo)
{
	Oid			nsp = get_func_namespace(fcinfo->flinfo->fn_oid);
	char	   *name = get_namespace_name(nsp);

	if (name == NULL)
		elog(ERROR, "momo: schema %u of the called function does not exist", nsp);
	return pstrdup(quote_identifier(name));
}

/* Returns a prepared plan, kept for the life of the process. */
static SPIPlanPtr
prepare_kept(const char *sql, int nargs, Oid *types)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, types);

	if (plan == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("momo: could not prepare a statement: %s",
						SPI_result_code_string(SPI_result))));
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "momo: SPI_keepplan failed");
	return plan;
}

/* Makes sure the worker's statements are prepared for schema. */
static void
prepare_plans(const char *schema)
{
	Oid			claim_types[3] = {INT4OID, INT4OID, FLOAT8OID};
	Oid			record_types[8] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT4OID,
	TEXTOID, FLOAT8OID, INT4OID};
	const char *claim =
		"WITH due AS ("
		" SELECT reference_id, attempts AS old_attempts FROM %s.momo_payments"
		" WHERE %s AND next_check_at <= pg_catalog.now()"
		" ORDER BY next_check_at LIMIT $1 FOR UPDATE SKIP LOCKED)"
		" UPDATE %s.momo_payments p SET"
		"  attempts = p.attempts + CASE WHEN %s THEN 1 ELSE 0 END,"
		"  sent_at = CASE WHEN %s THEN COALESCE(p.sent_at, pg_catalog.now()) ELSE p.sent_at END,"
		"  next_check_at = pg_catalog.now() + $3 * interval '1 millisecond',"
		"  updated_at = pg_catalog.now()"
		" FROM due WHERE p.reference_id = due.reference_id"
		" RETURNING p, " PAYMENT_COLUMNS;

	if (plans.schema && strcmp(plans.schema, schema) == 0)
		return;
	if (plans.schema)
	{
		SPI_freeplan(plans.claim_send);
		SPI_freeplan(plans.claim_check);
		SPI_freeplan(plans.record);
		pfree(plans.schema);
		memset(&plans, 0, sizeof(plans));
	}

	/* Queued rows with sends left are sent; $2 is momo.max_attempts. */
	plans.claim_send = prepare_kept(psprintf(claim, schema,
											 "status = 'queued' AND attempts < $2", schema,
											 "true", "true"),
									3, claim_types);
	/* Pending rows, and queued rows out of sends, are checked. */
	plans.claim_check = prepare_kept(psprintf(claim, schema,
											  "(status = 'pending' OR (status = 'queued' AND attempts >= $2))",
											  schema, "false", "false"),
									 3, claim_types);
	plans.record = prepare_kept(psprintf(
										 "UPDATE %s.momo_payments SET"
										 " status = CASE WHEN $2 = 'queued' THEN status ELSE $2 END,"
										 " reason = COALESCE($3, reason),"
										 " financial_transaction_id = COALESCE($4, financial_transaction_id),"
										 " last_http_status = $5,"
										 " last_error = $6,"
										 " next_check_at = CASE WHEN $7 < 0 THEN next_check_at"
										 "   ELSE pg_catalog.now() + $7 * interval '1 millisecond' END,"
										 " status_checks = status_checks + $8,"
										 " completed_at = CASE WHEN $2 IN ('successful', 'failed') THEN pg_catalog.now() END,"
										 " updated_at = pg_catalog.now()"
										 " WHERE reference_id = $1::uuid AND status IN ('queued', 'pending')",
										 schema),
								8, record_types);
	plans.schema = MemoryContextStrdup(TopMemoryContext, schema);
}

/* Copies a string into the memory of SPI's caller. */
static char *
spi_strdup(const char *s)
{
	size_t		len = strlen(s) + 1;
	char	   *copy = SPI_palloc(len);

	memcpy(copy, s, len);
	return copy;
}

/* Copies a text column of an SPI row into the memory of SPI's caller, or NULL. */
static char *
column_text(HeapTuple tup, TupleDesc desc, int col)
{
	char	   *v = SPI_getvalue(tup, desc, col);

	return v ? spi_strdup(v) : NULL;
}

/*
 * Fills in p, in the memory of SPI's caller, from SPI row i of a query that
 * selected "p, PAYMENT_COLUMNS"; the whole row only when want_row.
 */
static void
read_payment(int i, MomoPayment *p, bool want_row)
{
	HeapTuple	tup = SPI_tuptable->vals[i];
	TupleDesc	desc = SPI_tuptable->tupdesc;
	bool		isnull;
	char	   *status;
	Datum		row;

	memset(p, 0, sizeof(*p));
	if (want_row)
	{
		row = SPI_getbinval(tup, desc, 1, &isnull);
		p->row = SPI_datumTransfer(row, false, -1);
	}
	p->terms.reference_id = column_text(tup, desc, 2);
	p->terms.amount = column_text(tup, desc, 3);
	p->terms.currency = column_text(tup, desc, 4);
	p->terms.msisdn = column_text(tup, desc, 5);
	p->terms.external_id = column_text(tup, desc, 6);
	p->terms.payer_message = column_text(tup, desc, 7);
	p->terms.payee_note = column_text(tup, desc, 8);
	status = SPI_getvalue(tup, desc, 9);
	p->queued = (strcmp(status, "queued") == 0);
	p->final = (strcmp(status, "successful") == 0 || strcmp(status, "failed") == 0);
	p->attempts = DatumGetInt32(SPI_getbinval(tup, desc, 10, &isnull));
	p->status_checks = DatumGetInt32(SPI_getbinval(tup, desc, 11, &isnull));
	p->xmin = DatumGetTransactionId(SPI_getbinval(tup, desc, 12, &isnull));
}

/* Inserts a queued payment. */
void
momo_store_insert(const char *schema, const MomoPaymentTerms *t)
{
	Oid			types[7] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		values[7];
	char		nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};
	const char *v[7] = {t->reference_id, t->external_id, t->amount, t->currency,
	t->msisdn, t->payer_message, t->payee_note};
	int			rc;

	for (int i = 0; i < 7; i++)
	{
		values[i] = v[i] ? CStringGetTextDatum(v[i]) : (Datum) 0;
		if (v[i] == NULL)
			nulls[i] = 'n';
	}
	rc = SPI_execute_with_args(psprintf("INSERT INTO %s.momo_payments"
										" (reference_id, external_id, amount, currency, msisdn,"
										"  payer_message, payee_note)"
										" VALUES ($1::uuid, $2, $3::numeric, $4, $5, $6, $7)",
										schema),
							   7, types, values, nulls, false, 0);
	spi_check(rc, SPI_OK_INSERT, "inserting the payment");
}

/* Reads one payment; returns false if there is none with that reference id. */
bool
momo_store_fetch(const char *schema, const char *reference_id, MomoPayment *p)
{
	Oid			types[1] = {TEXTOID};
	Datum		values[1] = {CStringGetTextDatum(reference_id)};
	int			rc;

	rc = SPI_execute_with_args(psprintf("SELECT p, " PAYMENT_COLUMNS
										" FROM %s.momo_payments p WHERE reference_id = $1::uuid",
										schema),
							   1, types, values, NULL, false, 1);
	spi_check(rc, SPI_OK_SELECT, "reading the payment");
	if (SPI_processed == 0)
		return false;
	read_payment(0, p, true);
	return true;
}

/*
 * Claims up to limit due payments: to send (send = true) or to check.  The
 * claim pushes next_check_at past the time the work can take, so a crash
 * mid-work only delays a row.  Returns the number claimed, in *out.
 */
int
momo_store_claim(const char *schema, bool send, int limit, MomoPayment **out)
{
	Datum		values[3];
	int			rc;
	int			n;
	double		lease_ms = 2.0 * momo_request_timeout_ms + momo_connect_timeout_ms + 10000.0;

	*out = NULL;
	if (limit <= 0)
		return 0;
	prepare_plans(schema);
	values[0] = Int32GetDatum(limit);
	values[1] = Int32GetDatum(momo_max_attempts);
	values[2] = Float8GetDatum(lease_ms);
	rc = SPI_execute_plan(send ? plans.claim_send : plans.claim_check, values, NULL, false, 0);
	spi_check(rc, SPI_OK_UPDATE_RETURNING, "claiming due payments");
	n = (int) SPI_processed;
	if (n > 0)
	{
		*out = SPI_palloc(sizeof(MomoPayment) * n);
		for (int i = 0; i < n; i++)
			read_payment(i, &(*out)[i], false);
	}
	return n;
}

/* Delay before the next status check of a payment checked `checks` times. */
static double
poll_delay_ms(int checks)
{
	double		d = momo_poll_interval_min_ms * pow(2.0, Min(checks, 30));

	d = Min(d, (double) momo_poll_interval_max_ms);
	return d * (0.9 + 0.2 * pg_prng_double(&pg_global_prng_state));
}

/* Delay before retry number `attempt` after a transient failure: exponential, with jitter. */
static double
retry_delay_ms(int attempt)
{
	double		d = momo_retry_base_ms * pow(2.0, Min(Max(attempt - 1, 0), 30));

	d = Min(d, (double) momo_retry_max_ms);
	return d * (0.5 + 0.5 * pg_prng_double(&pg_global_prng_state));
}

/* Returns s cut to at most max bytes (on a character boundary) in the server encoding. */
static char *
clip(const char *s, int max)
{
	char	   *conv;

	if (s == NULL)
		return NULL;
	conv = pg_any_to_server(s, strlen(s), PG_UTF8);
	if ((int) strlen(conv) > max)
		conv = pnstrdup(conv, pg_mbcliplen(conv, strlen(conv), max));
	return conv;
}

/*
 * Records the answer to op for payment p.  With reschedule false (a status
 * check asked for by a user) only a definite answer changes the row, and the
 * worker's schedule is left alone.  Returns true if the payment became final.
 */
bool
momo_store_record(const char *schema, const MomoPayment *p, MomoOp op,
				  const MomoAnswer *a, bool reschedule)
{
	const char *status = p->queued ? "queued" : "pending";
	const char *reason = NULL;
	const char *ftid = NULL;
	const char *error = a->error;
	double		delay = -1;
	int			checks = (op == MOMO_OP_STATUS && reschedule) ? 1 : 0;
	Datum		values[8];
	char		nulls[8] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	int			rc;

	switch (a->verdict)
	{
		case MOMO_ACCEPTED:
			status = "pending";
			delay = poll_delay_ms(0);
			break;
		case MOMO_PENDING:
			status = "pending";
			delay = poll_delay_ms(p->status_checks);
			break;
		case MOMO_SUCCESSFUL:
			status = "successful";
			ftid = a->financial_transaction_id;
			break;
		case MOMO_FAILED:
		case MOMO_REJECTED:
			status = "failed";
			reason = a->reason;
			break;
		case MOMO_NOT_FOUND:
			if (p->queued && p->attempts >= momo_max_attempts && reschedule)
			{
				/* Every send failed and MTN has never heard of it: it was not delivered. */
				status = "failed";
				reason = "NOT_DELIVERED";
				error = psprintf("MTN never received the request after %d attempts", p->attempts);
			}
			else
				delay = (op == MOMO_OP_STATUS) ? poll_delay_ms(p->status_checks) : retry_delay_ms(p->attempts);
			break;
		case MOMO_TOKEN_REFUSED:
		case MOMO_KEY_REFUSED:
		case MOMO_RETRY:
			delay = retry_delay_ms(op == MOMO_OP_CREATE ? p->attempts : p->status_checks + 1);
			break;
	}
	if (!reschedule)
	{
		delay = -1;
		if (a->verdict != MOMO_PENDING && a->verdict != MOMO_SUCCESSFUL && a->verdict != MOMO_FAILED)
			status = p->queued ? "queued" : "pending";
	}

	prepare_plans(schema);
	values[0] = CStringGetTextDatum(p->terms.reference_id);
	values[1] = CStringGetTextDatum(status);
	values[2] = reason ? CStringGetTextDatum(clip(reason, 100)) : (Datum) 0;
	nulls[2] = reason ? ' ' : 'n';
	values[3] = ftid ? CStringGetTextDatum(clip(ftid, 100)) : (Datum) 0;
	nulls[3] = ftid ? ' ' : 'n';
	values[4] = Int32GetDatum(a->http_status);
	nulls[4] = a->http_status ? ' ' : 'n';
	values[5] = error ? CStringGetTextDatum(clip(error, 500)) : (Datum) 0;
	nulls[5] = error ? ' ' : 'n';
	values[6] = Float8GetDatum(delay);
	values[7] = Int32GetDatum(checks);
	rc = SPI_execute_plan(plans.record, values, nulls, false, 0);
	spi_check(rc, SPI_OK_UPDATE, "recording an answer from MTN");
	return SPI_processed == 1 &&
		(strcmp(status, "successful") == 0 || strcmp(status, "failed") == 0);
}

/* Milliseconds until the next payment falls due (may be negative), or -1 if none is waiting. */
long
momo_store_next_due_ms(const char *schema)
{
	int			rc;
	bool		isnull;
	Datum		d;

	rc = SPI_execute(psprintf("SELECT (EXTRACT(EPOCH FROM min(next_check_at) - pg_catalog.now()) * 1000)::float8"
							  " FROM %s.momo_payments WHERE status IN ('queued', 'pending')",
							  schema), true, 1);
	spi_check(rc, SPI_OK_SELECT, "looking for due payments");
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		return -1;
	return (long) Max(DatumGetFloat8(d), -1.0e9);
}
