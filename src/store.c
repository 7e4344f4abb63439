/*-------------------------------------------------------------------------
 *
 * store.c
 *	  The payments table and the event log.  Rows are written before anything
 *	  is sent; the worker claims due rows with FOR UPDATE SKIP LOCKED and
 *	  commits the claim before any HTTP request leaves; answers from MTN are
 *	  recorded by one statement per batch that logs each in momo_events and
 *	  updates the payments, never touching a final row and never moving one
 *	  back to queued.  What each answer changes, and when a payment is next
 *	  due, is decided in lifecycle.c.
 *
 *	  Every function expects SPI to be connected by its caller.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/guc.h"
#include "utils/numeric.h"
#include "utils/regproc.h"
#include "utils/uuid.h"

#include "lifecycle.h"
#include "owner.h"
#include "payment_row.h"
#include "settings.h"
#include "spi_util.h"
#include "store.h"
#include "version.h"

/*
 * Columns of the results of store.c's other statements (the payment's are
 * in payment_row.h), each beside the statement in the function named.
 */
#define Anum_record_final		1	/* record_batch: the payment became final */
#define Anum_next_due_ms		1	/* next_due */
#define Anum_progress_final		1	/* progress: the payment is final */
#define Anum_progress_xmin		2	/* progress */
#define Anum_waiting_product	1	/* momo_store_products_waiting */

/*
 * Classes of due status checks, claimed in this order (see prepare_plans):
 * announced by a callback, fresh, older than momo.attention_after.
 */
#define CHECK_CLASSES 3

/*
 * The predicate of the partial index momo_payments_checks (sql/momo.sql),
 * word for word: a claim of status checks repeats it, so that the planner
 * sees the index applies.  Every payment a status check may be due for:
 * pending, or queued after a send that may have arrived (its attempts are
 * spent, or MTN refused its resend).
 */
#define CHECKS_INDEX_PREDICATE \
	"(status = 'pending' OR (status = 'queued' AND (send_refused OR attempts > 0)))"

/* Arguments (arrays) of the statement that records answers. */
#define RECORD_ARGS 20

/*
 * Statements run for every payment, prepared once per schema and kept for
 * the life of the process: the worker's (prepared together, by
 * prepare_plans) and those of the SQL functions (each prepared at its first
 * use).  A kept plan is re-planned by PostgreSQL's plan cache when the table
 * changes; the SQL text itself names only the schema.
 */
typedef struct StorePlans
{
	char	   *schema;
	bool		has_api_version;	/* its momo_payments has api_version */
	SPIPlanPtr	claim_send;
	SPIPlanPtr	claim_check[CHECK_CLASSES];	/* by class, see prepare_plans */
	SPIPlanPtr	record_batch;
	SPIPlanPtr	next_due;
	SPIPlanPtr	sendable;
	SPIPlanPtr	progress;
	SPIPlanPtr	insert;			/* momo_store_insert */
	SPIPlanPtr	find_open;		/* momo_store_find_open */
	SPIPlanPtr	fetch;			/* momo_store_fetch */
	SPIPlanPtr	caller_sees;	/* momo_store_caller_sees */
} StorePlans;

static StorePlans plans;

static char *spi_strdup(const char *s);
static Datum text_array(char **items, int n);
static Datum uuid_array(char **items, int n);
static int	steer_to_indexes(bool ordered);


/* Frees a kept plan, if there is one. */
static void
free_kept(SPIPlanPtr *plan)
{
	if (*plan)
		SPI_freeplan(*plan);
	*plan = NULL;
}

/*
 * Returns true if momo_payments of schema (quoted) has the column
 * api_version: one of 1.0 has not, under a newer library, until ALTER
 * EXTENSION momo UPDATE.  Catalog cache lookups only.
 */
static bool
schema_has_api_version(const char *schema)
{
	List	   *names = stringToQualifiedNameList(psprintf("%s.momo_payments", schema));
	Oid			relid = RangeVarGetRelid(makeRangeVarFromNameList(names), NoLock, true);

	return OidIsValid(relid) && get_attnum(relid, "api_version") != InvalidAttrNumber;
}

/*
 * Forgets every kept plan if they were prepared for another schema than
 * schema, or before an update of the schema gave momo_payments api_version.
 */
static void
use_schema(const char *schema)
{
	bool		has_api_version = schema_has_api_version(schema);

	if (plans.schema && strcmp(plans.schema, schema) == 0 &&
		plans.has_api_version == has_api_version)
		return;
	free_kept(&plans.claim_send);
	for (int c = 0; c < CHECK_CLASSES; c++)
		free_kept(&plans.claim_check[c]);
	free_kept(&plans.record_batch);
	free_kept(&plans.next_due);
	free_kept(&plans.sendable);
	free_kept(&plans.progress);
	free_kept(&plans.insert);
	free_kept(&plans.find_open);
	free_kept(&plans.fetch);
	free_kept(&plans.caller_sees);
	if (plans.schema)
		pfree(plans.schema);
	plans.schema = MemoryContextStrdup(TopMemoryContext, schema);
	plans.has_api_version = has_api_version;
}

/*
 * The columns a payment's statement selects after PAYMENT_COLUMNS (see
 * payment_row.h): its API version, which is 1 for every payment of a schema
 * of 1.0, its extra terms and its own callback URL, which none has there,
 * and its party id type, msisdn for all there (all four came with 1.1).
 */
static const char *
version_column(void)
{
	return plans.has_api_version ? "p.api_version, p.extra_terms::text, p.callback_url, p.party_id_type" :
		"1::smallint, NULL::text, NULL::text, 'msisdn'::text";
}

/* Makes sure the worker's statements are prepared for schema. */
static void
prepare_plans(const char *schema)
{
	Oid			claim_types[5] = {INT4OID, INT4OID, TEXTARRAYOID, UUIDARRAYOID, INT4OID};
	Oid			batch_types[RECORD_ARGS] = {TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID,
		INT4ARRAYOID, TEXTARRAYOID, FLOAT8ARRAYOID, INT4ARRAYOID, INT4ARRAYOID, BOOLARRAYOID,
	TEXTARRAYOID, TEXTARRAYOID, TEXTARRAYOID, FLOAT8ARRAYOID, BOOLARRAYOID, BOOLARRAYOID, BOOLARRAYOID,
	FLOAT8ARRAYOID, TEXTARRAYOID, TEXTARRAYOID};
	const char *claim =
		"SELECT NULL, " PAYMENT_COLUMNS ", %s FROM %s.momo_payments p"
		" WHERE %s AND next_check_at <= pg_catalog.now() AND product = ANY ($3)"
		"   AND reference_id <> ALL ($4)"
		" ORDER BY %s LIMIT $1 FOR UPDATE SKIP LOCKED";

	use_schema(schema);
	if (plans.progress)
		return;

	/* An earlier attempt may have failed half-way; progress is prepared last. */
	free_kept(&plans.claim_send);
	for (int c = 0; c < CHECK_CLASSES; c++)
		free_kept(&plans.claim_check[c]);
	free_kept(&plans.record_batch);
	free_kept(&plans.next_due);
	free_kept(&plans.sendable);
	/* Queued rows with sends left are sent; $2 is momo.max_attempts. */
	plans.claim_send = momo_spi_prepare_kept(psprintf(claim, version_column(), schema,
											 "status = " MOMO_SQL(MOMO_STATUS_QUEUED_NAME) " AND attempts < $2 AND NOT send_refused",
											 "next_check_at"),
									4, claim_types, CURSOR_OPT_GENERIC_PLAN);

	/*
	 * Pending rows, and queued rows out of sends or whose resend MTN refused,
	 * are checked.  MTN's budget of status checks goes first to payments a
	 * callback announced (and that were not checked since: the callback set
	 * next_check_at to its own time), then to fresh ones, and last to those
	 * older than momo.attention_after ($5, seconds), which MTN may keep
	 * pending for hours; the oldest due first within each.  One statement
	 * per class, each walking an index in next_check_at order and stopping
	 * at its LIMIT: the announced ones momo_payments_announced, the others
	 * momo_payments_checks, which holds no payment waiting to be sent (the
	 * order by reference_id too is what only these two indexes give: with
	 * sorts off, the planner cannot take momo_payments_due instead).  (One
	 * statement that sorted every due check by class read every due row of
	 * momo_payments_due for each claim of a few -- with 60,000 payments
	 * queued in one transaction, 20 ms a claim, and 40 times the worker's
	 * CPU per payment.)  A class walks past the due rows of the others: at
	 * worst, with no fresh check due, the fresh class reads the old ones.
	 */
	{
		static const char *const class_filter[CHECK_CLASSES] = {
			"status IN " MOMO_SQL_OPEN_STATUSES " AND callback_at >= next_check_at",
			CHECKS_INDEX_PREDICATE " AND (callback_at IS NULL OR callback_at < next_check_at)"
			" AND created_at > pg_catalog.now() - pg_catalog.make_interval(secs => $5)",
			CHECKS_INDEX_PREDICATE " AND (callback_at IS NULL OR callback_at < next_check_at)"
			" AND created_at <= pg_catalog.now() - pg_catalog.make_interval(secs => $5)"};

		for (int c = 0; c < CHECK_CLASSES; c++)
			plans.claim_check[c] =
				momo_spi_prepare_kept(psprintf(claim, version_column(), schema,
											   psprintf("%s AND (status = " MOMO_SQL(MOMO_STATUS_PENDING_NAME)
														" OR (status = " MOMO_SQL(MOMO_STATUS_QUEUED_NAME)
														" AND (attempts >= $2 OR send_refused)))",
														class_filter[c]),
											   "p.next_check_at, p.reference_id"),
									  5, claim_types, CURSOR_OPT_GENERIC_PLAN);
	}
	/*
	 * One statement records a batch of answers: each answer is logged in
	 * momo_events, and each payment not yet final is updated.
	 */
	plans.record_batch = momo_spi_prepare_kept(psprintf(
											   "WITH v AS ("
											   " SELECT * FROM ROWS FROM ("
											   "  pg_catalog.unnest($1), pg_catalog.unnest($2), pg_catalog.unnest($3),"
											   "  pg_catalog.unnest($4), pg_catalog.unnest($5), pg_catalog.unnest($6),"
											   "  pg_catalog.unnest($7), pg_catalog.unnest($8), pg_catalog.unnest($9),"
											   "  pg_catalog.unnest($10), pg_catalog.unnest($11), pg_catalog.unnest($12),"
											   "  pg_catalog.unnest($13), pg_catalog.unnest($14), pg_catalog.unnest($15),"
											   "  pg_catalog.unnest($16), pg_catalog.unnest($17), pg_catalog.unnest($18),"
											   "  pg_catalog.unnest($19), pg_catalog.unnest($20))"
											   "  AS v(reference_id, status, reason, ftid, http_status, error, delay_ms, checks,"
											   "       sends, failed, product, event_operation, outcome, latency_ms, not_found,"
											   "       keep, send_refused, expires, invoice_id, payment_reference)),"
											   " ev AS ("
											   "  INSERT INTO %s.momo_events (reference_id, product, operation, http_status,"
											   "                              outcome, reason, latency_ms, error)"
											   "  SELECT v.reference_id::uuid, v.product, v.event_operation, v.http_status,"
											   "         v.outcome, v.reason, v.latency_ms, v.error FROM v)"
											   "UPDATE %s.momo_payments p SET"
											   " status = CASE WHEN v.status = " MOMO_SQL(MOMO_STATUS_QUEUED_NAME) " THEN p.status ELSE v.status END,"
											   " reason = CASE WHEN v.status = " MOMO_SQL(MOMO_STATUS_SUCCESSFUL_NAME) " THEN NULL"
											   "   ELSE COALESCE(v.reason, p.reason) END,"
											   " financial_transaction_id = COALESCE(v.ftid, p.financial_transaction_id),"
											   "%s"
											   " fee = CASE WHEN v.status = " MOMO_SQL(MOMO_STATUS_SUCCESSFUL_NAME) " AND p.operation = %s"
											   "   THEN %s.momo_fee_lookup(p.amount, p.currency) ELSE p.fee END,"
											   " last_http_status = v.http_status,"
											   " last_error = v.error,"
											   " next_check_at = CASE WHEN v.delay_ms < 0::float8 THEN p.next_check_at"
											   "   ELSE pg_catalog.now() + v.delay_ms * interval '1 millisecond' END,"
											   " status_checks = p.status_checks + v.checks,"
											   " attempts = p.attempts + v.sends,"
											   " sent_at = CASE WHEN v.sends > 0 THEN COALESCE(p.sent_at, pg_catalog.now()) ELSE p.sent_at END,"
											   " not_found_since = CASE WHEN v.keep THEN p.not_found_since"
											   "   WHEN v.not_found THEN COALESCE(p.not_found_since, pg_catalog.now()) END,"
											   " retries = CASE WHEN v.keep THEN p.retries WHEN v.failed THEN p.retries + 1 ELSE 0 END,"
											   " send_refused = p.send_refused OR v.send_refused,"
											   " completed_at = CASE WHEN v.status IN " MOMO_SQL_FINAL_STATUSES " THEN pg_catalog.now() END,"
											   " updated_at = pg_catalog.now()"
											   " FROM v"
											   " WHERE p.reference_id = v.reference_id::uuid AND p.completed_at IS NULL"
											   " RETURNING v.status IN " MOMO_SQL_FINAL_STATUSES,
											   schema, schema,
		/*
		 * a schema of 1.0 has no expires_at, invoice_id nor
		 * payment_reference (nor pre-approvals, nor invoices)
		 */
											   plans.has_api_version ?
											   " expires_at = CASE WHEN v.expires >= 0::float8"
											   "   THEN pg_catalog.to_timestamp(v.expires) ELSE p.expires_at END,"
											   " invoice_id = COALESCE(p.invoice_id, v.invoice_id),"
											   " payment_reference = COALESCE(p.payment_reference, v.payment_reference)," : "",
											   quote_literal_cstr(momo_operation_names[MOMO_REQUEST_TO_PAY]), schema),
									  RECORD_ARGS, batch_types, CURSOR_OPT_GENERIC_PLAN);
	{
		Oid			skip_types[1] = {UUIDARRAYOID};

		plans.next_due = momo_spi_prepare_kept(psprintf("SELECT (EXTRACT(EPOCH FROM min(next_check_at) - pg_catalog.now())"
											   " * 1000::numeric)::float8 FROM %s.momo_payments"
											   " WHERE status IN " MOMO_SQL_OPEN_STATUSES
											   "   AND reference_id <> ALL ($1)", schema),
									  1, skip_types, CURSOR_OPT_GENERIC_PLAN);
	}
	{
		Oid			refs_types[1] = {UUIDARRAYOID};

		/*
		 * No status in the condition: it would let the planner read
		 * momo_payments_due; the caller looks at the status.
		 */
		plans.sendable = momo_spi_prepare_kept(psprintf("SELECT p.reference_id::text,"
											   "  p.status = " MOMO_SQL(MOMO_STATUS_QUEUED_NAME) " AND NOT p.send_refused"
											   " FROM %s.momo_payments p WHERE p.reference_id = ANY ($1)", schema),
									  1, refs_types, CURSOR_OPT_GENERIC_PLAN);
	}
	{
		Oid			uuid_types[1] = {TEXTOID};

		plans.progress = momo_spi_prepare_kept(psprintf("SELECT p.status IN " MOMO_SQL_FINAL_STATUSES ", p.xmin"
											   " FROM %s.momo_payments p WHERE p.reference_id = $1::uuid",
											   schema),
									  1, uuid_types, 0);
	}
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
	Datum		d;
	Datum		row;

	if (desc->natts != Natts_payment)
		elog(ERROR, "payment query returned %d columns, not %d", desc->natts, Natts_payment);
	memset(p, 0, sizeof(*p));
	if (want_row)
	{
		row = SPI_getbinval(tup, desc, Anum_payment_row, &isnull);
		p->row = SPI_datumTransfer(row, false, -1);
	}
	p->terms.reference_id = column_text(tup, desc, Anum_payment_reference_id);
	p->terms.amount = column_text(tup, desc, Anum_payment_amount);
	p->terms.currency = column_text(tup, desc, Anum_payment_currency);
	p->terms.msisdn = column_text(tup, desc, Anum_payment_msisdn);
	p->terms.external_id = column_text(tup, desc, Anum_payment_external_id);
	p->terms.payer_message = column_text(tup, desc, Anum_payment_payer_message);
	p->terms.payee_note = column_text(tup, desc, Anum_payment_payee_note);
	p->status = momo_lifecycle_status_by_name(SPI_getvalue(tup, desc, Anum_payment_status));
	p->attempts = DatumGetInt32(SPI_getbinval(tup, desc, Anum_payment_attempts, &isnull));
	p->status_checks = DatumGetInt32(SPI_getbinval(tup, desc, Anum_payment_status_checks, &isnull));
	p->xmin = DatumGetTransactionId(SPI_getbinval(tup, desc, Anum_payment_xmin, &isnull));
	p->retries = DatumGetInt32(SPI_getbinval(tup, desc, Anum_payment_retries, &isnull));
	p->terms.operation = momo_protocol_operation_by_name(SPI_getvalue(tup, desc, Anum_payment_operation),
														 SPI_getvalue(tup, desc, Anum_payment_product));
	p->terms.refund_of = column_text(tup, desc, Anum_payment_refund_of);
	d = SPI_getbinval(tup, desc, Anum_payment_not_found_for, &isnull);
	p->not_found_for = isnull ? -1 : DatumGetFloat8(d);
	p->send_refused = DatumGetBool(SPI_getbinval(tup, desc, Anum_payment_send_refused, &isnull));
	p->age_s = DatumGetFloat8(SPI_getbinval(tup, desc, Anum_payment_age, &isnull));
	p->terms.api_version = DatumGetInt16(SPI_getbinval(tup, desc, Anum_payment_api_version, &isnull));
	p->terms.extra_terms = column_text(tup, desc, Anum_payment_extra_terms);
	p->terms.callback_url = column_text(tup, desc, Anum_payment_callback_url);
	p->terms.party_id_type = momo_protocol_id_type_by_name(SPI_getvalue(tup, desc, Anum_payment_party_id_type));
}

/*
 * Reads the payment of caller (the role that called momo's function) for
 * operation with external_id that has not failed, with a new snapshot;
 * returns false if there is none.
 */
bool
momo_store_find_open(const char *schema, Oid caller, MomoOperation operation,
					 const char *external_id, MomoPayment *p)
{
	Datum		values[3];
	int			rc;

	use_schema(schema);
	if (plans.find_open == NULL)
	{
		Oid			types[3] = {TEXTOID, TEXTOID, TEXTOID};

		plans.find_open = momo_spi_prepare_kept(psprintf("SELECT p, " PAYMENT_COLUMNS ", %s"
												" FROM %s.momo_payments p"
												" WHERE p.requested_by = $1::name AND p.operation = $2"
												"   AND p.external_id = $3 AND p.status <> " MOMO_SQL(MOMO_STATUS_FAILED_NAME),
												version_column(), schema),
									   3, types, 0);
	}
	values[0] = CStringGetTextDatum(GetUserNameFromId(caller, false));
	values[1] = CStringGetTextDatum(momo_operation_names[operation]);
	values[2] = CStringGetTextDatum(external_id);
	rc = SPI_execute_plan(plans.find_open, values, NULL, false, 1);
	momo_spi_check(rc, SPI_OK_SELECT, "looking for an earlier payment with the same external_id");
	if (SPI_processed == 0)
		return false;
	read_payment(0, p, true);
	return true;
}

/* Returns true if two optional texts are equal (both absent, or the same). */
static bool
same_text(const char *a, const char *b)
{
	return (a == NULL) ? (b == NULL) : (b != NULL && strcmp(a, b) == 0);
}

/*
 * Returns what differs between the terms t asked for and those of the
 * earlier payment p, or NULL if nothing does.  An absent amount (a refund
 * of all that is left) matches any.
 */
char *
momo_store_differing_terms(const MomoPaymentTerms *t, const MomoPayment *p)
{
	StringInfoData d;

	initStringInfo(&d);

	/*
	 * A transfer of Disbursement and one of Remittance share the operation
	 * "transfer", so the same key finds either: one paid from another
	 * account is not the payment asked for.
	 */
	if (momo_protocol_operation_product(t->operation) != momo_protocol_operation_product(p->terms.operation))
		appendStringInfo(&d, "%sproduct %s, not %s", d.len ? "; " : "",
						 momo_product_names[momo_protocol_operation_product(p->terms.operation)],
						 momo_product_names[momo_protocol_operation_product(t->operation)]);
	if (t->amount &&
		DatumGetInt32(DirectFunctionCall2(numeric_cmp,
										  DirectFunctionCall3(numeric_in, CStringGetDatum(t->amount),
															  ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)),
										  DirectFunctionCall3(numeric_in, CStringGetDatum(p->terms.amount),
															  ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1)))) != 0)
		appendStringInfo(&d, "%samount %s, not %s", d.len ? "; " : "", p->terms.amount, t->amount);
	if (t->currency && !same_text(t->currency, p->terms.currency))
		appendStringInfo(&d, "%scurrency %s, not %s", d.len ? "; " : "", p->terms.currency, t->currency);
	if (t->party_id_type != p->terms.party_id_type)
		appendStringInfo(&d, "%sid_type %s, not %s", d.len ? "; " : "",
						 momo_id_type_names[p->terms.party_id_type], momo_id_type_names[t->party_id_type]);
	if (t->msisdn && !same_text(t->msisdn, p->terms.msisdn))
		appendStringInfo(&d, "%smsisdn %s, not %s", d.len ? "; " : "", p->terms.msisdn, t->msisdn);
	if (!same_text(t->payer_message, p->terms.payer_message))
		appendStringInfo(&d, "%sa different payer_message", d.len ? "; " : "");
	if (!same_text(t->payee_note, p->terms.payee_note))
		appendStringInfo(&d, "%sa different payee_note", d.len ? "; " : "");
	if (t->api_version != p->terms.api_version)
		appendStringInfo(&d, "%sversion %d, not %d", d.len ? "; " : "",
						 p->terms.api_version, t->api_version);
	if (!same_text(t->extra_terms, p->terms.extra_terms))
		appendStringInfo(&d, "%s%s %s, not %s", d.len ? "; " : "",
						 t->operation == MOMO_CASH_TRANSFER ? "the originating details" :
						 t->operation == MOMO_PREAPPROVAL ? "the payer and validity" : "the further terms",
						 p->terms.extra_terms ? p->terms.extra_terms : "none",
						 t->extra_terms ? t->extra_terms : "none");
	if (!same_text(t->callback_url, p->terms.callback_url))
		appendStringInfo(&d, "%scallback_url %s, not %s", d.len ? "; " : "",
						 p->terms.callback_url ? p->terms.callback_url : "none",
						 t->callback_url ? t->callback_url : "none");
	if (!same_text(t->refund_of, p->terms.refund_of))
		appendStringInfo(&d, "%sa refund of %s, not of %s", d.len ? "; " : "",
						 p->terms.refund_of ? p->terms.refund_of : "nothing",
						 t->refund_of ? t->refund_of : "nothing");
	return d.len ? d.data : NULL;
}

/* Raises the ERROR for a repeated external_id whose terms differ. */
void
momo_store_refuse_different_terms(const MomoPaymentTerms *t, const MomoPayment *p, const char *diff)
{
	ereport(ERROR,
			(errcode(ERRCODE_UNIQUE_VIOLATION),
			 errmsg("external_id \"%s\" already belongs to payment %s, with other terms",
					t->external_id, p->terms.reference_id),
			 errdetail("That payment is %s, with %s.", momo_status_names[p->status], diff),
			 errhint("A retry must repeat the same terms to get the same payment back; a new payment needs a new external_id (one may be reused once its payment failed).")));
}

/*
 * Inserts a queued payment, recording the role that asked for it (caller),
 * unless that role already has a payment of the same operation with the same
 * external_id that has not failed (queued, pending or successful): then it
 * returns that payment's reference id (and sets *existing), or raises an
 * ERROR if its terms differ.  An application that repeats a request, even in
 * two sessions at once, so gets one payment, as with Stripe's idempotency
 * keys; a payment that failed may be tried again.  The unique index
 * momo_payments_idempotency makes a concurrent second insert wait for the
 * first and then find it.  Returns the reference id, in the caller's memory.
 */
char *
momo_store_insert(const char *schema, Oid caller, const MomoPaymentTerms *t, bool *existing)
{
	Datum		values[15];
	char		nulls[15];
	const char *v[11] = {t->reference_id, t->external_id, t->amount, t->currency,
		t->msisdn, t->payer_message, t->payee_note,
		momo_operation_names[t->operation], momo_product_names[momo_protocol_operation_product(t->operation)],
		t->refund_of, GetUserNameFromId(caller, false)};

	use_schema(schema);
	/*
	 * A schema of 1.0 has no momo_request_to_withdraw nor momo_cash_transfer,
	 * every payment is of version 1, and its functions take no callback_url
	 * nor id_type.
	 */
	if (!plans.has_api_version &&
		(t->api_version != 1 || t->extra_terms != NULL || t->callback_url != NULL ||
		 t->party_id_type != MOMO_ID_MSISDN))
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("momo's schema in this database has no API version of payments"),
				 errhint("Run ALTER EXTENSION momo UPDATE in this database.")));
	if (plans.insert == NULL)
	{
		Oid			types[15] = {TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID,
		TEXTOID, TEXTOID, TEXTOID, TEXTOID, INT2OID, TEXTOID, TEXTOID, TEXTOID};

		plans.insert = momo_spi_prepare_kept(psprintf("INSERT INTO %s.momo_payments"
											 " (reference_id, external_id, amount, currency, msisdn,"
											 "  payer_message, payee_note, operation, product, refund_of,"
											 "  requested_by%s)"
											 " VALUES ($1::uuid, $2, $3::numeric, $4, $5, $6, $7, $8, $9,"
											 "  $10::uuid, $11::name%s)"
											 " ON CONFLICT (requested_by, operation, external_id)"
											 " WHERE status <> " MOMO_SQL(MOMO_STATUS_FAILED_NAME)
											 " DO NOTHING",
											 schema,
											 plans.has_api_version ? ", api_version, extra_terms, callback_url, party_id_type" : "",
											 plans.has_api_version ? ", $12, $13::jsonb, $14, $15" : ""),
									plans.has_api_version ? 15 : 11, types, 0);
	}
	for (int i = 0; i < 11; i++)
	{
		values[i] = v[i] ? CStringGetTextDatum(v[i]) : (Datum) 0;
		nulls[i] = v[i] ? ' ' : 'n';
	}
	values[11] = Int16GetDatum((int16) t->api_version);
	nulls[11] = ' ';
	values[12] = t->extra_terms ? CStringGetTextDatum(t->extra_terms) : (Datum) 0;
	nulls[12] = t->extra_terms ? ' ' : 'n';
	values[13] = t->callback_url ? CStringGetTextDatum(t->callback_url) : (Datum) 0;
	nulls[13] = t->callback_url ? ' ' : 'n';
	values[14] = CStringGetTextDatum(momo_id_type_names[t->party_id_type]);
	nulls[14] = ' ';
	*existing = false;

	/*
	 * The earlier payment may fail between a conflict and our look at it:
	 * then it no longer conflicts, and the insert is tried again.
	 */
	for (int attempt = 0;; attempt++)
	{
		MomoPayment p;
		char	   *diff;
		int			rc;

		rc = SPI_execute_plan(plans.insert, values, nulls, false, 0);
		momo_spi_check(rc, SPI_OK_INSERT, "inserting the payment");
		if (SPI_processed == 1)
			return spi_strdup(t->reference_id);
		if (momo_store_find_open(schema, caller, t->operation, t->external_id, &p))
		{
			diff = momo_store_differing_terms(t, &p);
			if (diff)
				momo_store_refuse_different_terms(t, &p, diff);
			*existing = true;
			return p.terms.reference_id;
		}
		if (attempt >= 3)
			ereport(ERROR,
					(errcode(ERRCODE_T_R_SERIALIZATION_FAILURE),
					 errmsg("could not insert payment with external_id \"%s\": a concurrent payment with it keeps changing",
							t->external_id),
					 errhint("Try again.")));
	}
}

/* Reads one payment; returns false if there is none with that reference id. */
bool
momo_store_fetch(const char *schema, const char *reference_id, MomoPayment *p)
{
	Datum		values[1] = {CStringGetTextDatum(reference_id)};
	int			rc;

	use_schema(schema);
	if (plans.fetch == NULL)
	{
		Oid			types[1] = {TEXTOID};

		plans.fetch = momo_spi_prepare_kept(psprintf("SELECT p, " PAYMENT_COLUMNS ", %s"
											" FROM %s.momo_payments p WHERE reference_id = $1::uuid",
											version_column(), schema),
								   1, types, 0);
	}
	rc = SPI_execute_plan(plans.fetch, values, NULL, false, 1);
	momo_spi_check(rc, SPI_OK_SELECT, "reading the payment");
	if (SPI_processed == 0)
		return false;
	read_payment(0, p, true);
	return true;
}

/*
 * Claims up to limit due payments of the given products: to send (send =
 * true) or to check.  The claim locks them (FOR UPDATE SKIP LOCKED, so rows a
 * user transaction holds are passed over) and the caller commits it before
 * any request leaves.  It writes nothing: a send is counted when its outcome
 * is recorded, so a crash never counts a send that did not happen.  The
 * locks go with that commit: the single worker names the payments it still
 * holds in skip, and they are passed over, as are those cooling down.
 * Returns the number claimed, in *out.
 */
int
momo_store_claim(const char *schema, bool send, int limit, char **products, int nproducts,
				 char **skip, int nskip, MomoPayment **out)
{
	Datum		values[5];
	int			rc;
	int			n;
	int			nest;

	*out = NULL;
	if (limit <= 0)
		return 0;
	prepare_plans(schema);
	values[0] = Int32GetDatum(limit);
	values[1] = Int32GetDatum(momo_max_attempts);
	values[2] = text_array(products, nproducts);
	values[3] = uuid_array(skip, nskip);
	values[4] = Int32GetDatum(momo_attention_after_s);
	nest = steer_to_indexes(true);
	if (send)
	{
		rc = SPI_execute_plan(plans.claim_send, values, NULL, false, 0);
		momo_spi_check(rc, SPI_OK_SELECT, "claiming due payments");
		n = (int) SPI_processed;
		if (n > 0)
		{
			*out = SPI_palloc(sizeof(MomoPayment) * n);
			for (int i = 0; i < n; i++)
				read_payment(i, &(*out)[i], false);
		}
	}
	else
	{
		/* class by class, each up to what the classes before left of limit */
		n = 0;
		for (int c = 0; c < CHECK_CLASSES && n < limit; c++)
		{
			values[0] = Int32GetDatum(limit - n);
			rc = SPI_execute_plan(plans.claim_check[c], values, NULL, false, 0);
			momo_spi_check(rc, SPI_OK_SELECT, "claiming due status checks");
			if (SPI_processed == 0)
				continue;
			if (*out == NULL)
				*out = SPI_palloc(sizeof(MomoPayment) * limit);
			for (uint64 i = 0; i < SPI_processed; i++)
				read_payment((int) i, &(*out)[n++], false);
		}
	}
	AtEOXact_GUC(true, nest);
	return n;
}

/*
 * Makes the planner use momo_payments' indexes for the worker's claims,
 * whatever the table's statistics say: with ordered, each claim and the
 * look for the next due payment walk their index (momo_payments_due,
 * momo_payments_checks, momo_payments_announced) in next_check_at order
 * and stop at the LIMIT (no sequential or bitmap scan, no sort); without,
 * only sequential scans are off.  A backlog queued in one transaction is
 * claimed long before autovacuum analyzes it, and with the statistics of an
 * emptier table the planner chose a bitmap scan of every due row and a sort
 * for each claim of a few (a backlog of 10,000 cost the worker a
 * millisecond of CPU per payment); a generic plan made while the table was
 * small kept scanning it whole once it held millions of finished payments.
 * The settings last until AtEOXact_GUC(true, the level returned), as a
 * function's SET clause does, and are only ever set for a SELECT: no
 * trigger of the application runs under them.  (Disabled paths cost
 * disable_cost, which would make every such plan worth compiling: the
 * worker runs with jit off.)
 */
static int
steer_to_indexes(bool ordered)
{
	static const char *const names[] = {"enable_seqscan", "enable_bitmapscan", "enable_sort",
	"enable_incremental_sort"};
	int			n = ordered ? lengthof(names) : 1;
	int			nest = NewGUCNestLevel();

	for (int i = 0; i < n; i++)
		(void) set_config_option(names[i], "off", PGC_USERSET, PGC_S_SESSION,
								 GUC_ACTION_SAVE, true, 0, false);
	return nest;
}

/*
 * Returns s (UTF-8, as MTN sends it) cut to at most max bytes on a character
 * boundary, in the server encoding.
 */
static char *
clip(const char *s, int max)
{
	char	   *conv;

	if (s == NULL)
		return NULL;
	if (GetDatabaseEncoding() == PG_UTF8)
		conv = pstrdup(s);
	else
	{
		/* Never fail to record an answer: what the encoding may lack becomes '?'. */
		conv = pstrdup(s);
		for (char *c = conv; *c; c++)
			if ((unsigned char) *c >= 0x80)
				*c = '?';
	}
	if ((int) strlen(conv) > max)
		conv = pnstrdup(conv, pg_mbcliplen(conv, strlen(conv), max));
	return conv;
}

/*
 * Returns s to be kept as it is, or NULL: an id MTN gave that someone will
 * quote (an invoice's paymentReference) is kept exactly or not at all.  In
 * a database whose encoding is not UTF-8, one with other characters than
 * ASCII is not kept (clip would change them).
 */
static char *
exact_text(const char *s)
{
	if (s == NULL)
		return NULL;
	if (GetDatabaseEncoding() != PG_UTF8)
		for (const char *c = s; *c; c++)
			if ((unsigned char) *c >= 0x80)
				return NULL;
	return pstrdup(s);
}

/*
 * Records the answer to op for payment p (see momo_lifecycle_decide).
 * Returns true if the payment became final.
 */
bool
momo_store_record(const char *schema, const MomoPayment *p, MomoOp op,
				  const MomoAnswer *a, bool reschedule)
{
	MomoRecord	rec;

	rec.payment = p;
	rec.op = op;
	rec.answer = a;
	return momo_store_record_batch(schema, &rec, 1, reschedule) > 0;
}

/* Builds a one-dimensional text[] from strings, NULL entries becoming NULLs. */
static Datum
text_array(char **items, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * n);
	bool	   *isnull = palloc(sizeof(bool) * n);
	int			dims[1] = {n};
	int			lbs[1] = {1};

	for (int i = 0; i < n; i++)
	{
		isnull[i] = (items[i] == NULL);
		elems[i] = isnull[i] ? (Datum) 0 : CStringGetTextDatum(items[i]);
	}
	return PointerGetDatum(construct_md_array(elems, isnull, 1, dims, lbs,
											  TEXTOID, -1, false, TYPALIGN_INT));
}

/*
 * Builds a one-dimensional uuid[] from reference ids (the worker's own, in
 * canonical form): comparing uuids spares the claim an output function and
 * a text comparison for each row it looks at.
 */
static Datum
uuid_array(char **items, int n)
{
	Datum	   *elems = palloc(sizeof(Datum) * Max(n, 1));

	for (int i = 0; i < n; i++)
		elems[i] = DirectFunctionCall1(uuid_in, CStringGetDatum(items[i]));
	return PointerGetDatum(construct_array(elems, n, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
}

/*
 * Records answers with one statement: logs each in momo_events and updates
 * each payment not yet final (see momo_lifecycle_decide).  Returns the
 * number of payments that became final.
 */
int
momo_store_record_batch(const char *schema, const MomoRecord *recs, int n, bool reschedule)
{
	char	  **refs = palloc(sizeof(char *) * n);
	char	  **statuses = palloc(sizeof(char *) * n);
	char	  **reasons = palloc(sizeof(char *) * n);
	char	  **ftids = palloc(sizeof(char *) * n);
	char	  **errors = palloc(sizeof(char *) * n);
	Datum	   *https = palloc(sizeof(Datum) * n);
	bool	   *http_nulls = palloc(sizeof(bool) * n);
	Datum	   *delays = palloc(sizeof(Datum) * n);
	Datum	   *checks = palloc(sizeof(Datum) * n);
	Datum	   *sends = palloc(sizeof(Datum) * n);
	Datum	   *not_found = palloc(sizeof(Datum) * n);
	Datum	   *failed = palloc(sizeof(Datum) * n);
	Datum	   *keep = palloc(sizeof(Datum) * n);
	Datum	   *send_refused = palloc(sizeof(Datum) * n);
	char	  **products = palloc(sizeof(char *) * n);
	char	  **operations = palloc(sizeof(char *) * n);
	char	  **outcomes = palloc(sizeof(char *) * n);
	Datum	   *latencies = palloc(sizeof(Datum) * n);
	Datum	   *expires = palloc(sizeof(Datum) * n);
	char	  **invoice_ids = palloc(sizeof(char *) * n);
	char	  **payment_refs = palloc(sizeof(char *) * n);
	int			dims[1] = {n};
	int			lbs[1] = {1};
	Datum		values[RECORD_ARGS];
	int			rc;
	int			finals = 0;

	for (int i = 0; i < n; i++)
	{
		MomoRowChange c;

		momo_lifecycle_decide(recs[i].payment, recs[i].op, recs[i].answer, reschedule, &c);
		refs[i] = recs[i].payment->terms.reference_id;
		statuses[i] = (char *) momo_status_names[c.status];
		reasons[i] = clip(c.reason, 100);
		ftids[i] = clip(c.ftid, 100);
		errors[i] = clip(c.error, 500);
		https[i] = Int32GetDatum(c.http_status);
		http_nulls[i] = (c.http_status == 0);
		delays[i] = Float8GetDatum(c.delay_ms);
		checks[i] = Int32GetDatum(c.checks);
		sends[i] = Int32GetDatum(c.sends);
		not_found[i] = BoolGetDatum(c.not_found);
		failed[i] = BoolGetDatum(c.failed);
		keep[i] = BoolGetDatum(c.keep);
		send_refused[i] = BoolGetDatum(c.send_refused);
		products[i] = (char *) momo_product_names[momo_protocol_operation_product(recs[i].payment->terms.operation)];
		operations[i] = (char *) c.event_operation;
		outcomes[i] = (char *) c.outcome;
		latencies[i] = Float8GetDatum(recs[i].answer->elapsed * 1000.0);
		expires[i] = Float8GetDatum(c.expires);
		invoice_ids[i] = exact_text(c.invoice_id);
		payment_refs[i] = exact_text(c.payment_reference);
	}
	prepare_plans(schema);
	values[0] = text_array(refs, n);
	values[1] = text_array(statuses, n);
	values[2] = text_array(reasons, n);
	values[3] = text_array(ftids, n);
	values[4] = PointerGetDatum(construct_md_array(https, http_nulls, 1, dims, lbs,
												   INT4OID, 4, true, TYPALIGN_INT));
	values[5] = text_array(errors, n);
	values[6] = PointerGetDatum(construct_array(delays, n, FLOAT8OID, 8,
												FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[7] = PointerGetDatum(construct_array(checks, n, INT4OID, 4, true, TYPALIGN_INT));
	values[8] = PointerGetDatum(construct_array(sends, n, INT4OID, 4, true, TYPALIGN_INT));
	values[9] = PointerGetDatum(construct_array(failed, n, BOOLOID, 1, true, TYPALIGN_CHAR));
	values[10] = text_array(products, n);
	values[11] = text_array(operations, n);
	values[12] = text_array(outcomes, n);
	values[13] = PointerGetDatum(construct_array(latencies, n, FLOAT8OID, 8,
												 FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[14] = PointerGetDatum(construct_array(not_found, n, BOOLOID, 1, true, TYPALIGN_CHAR));
	values[15] = PointerGetDatum(construct_array(keep, n, BOOLOID, 1, true, TYPALIGN_CHAR));
	values[16] = PointerGetDatum(construct_array(send_refused, n, BOOLOID, 1, true, TYPALIGN_CHAR));
	values[17] = PointerGetDatum(construct_array(expires, n, FLOAT8OID, 8,
												 FLOAT8PASSBYVAL, TYPALIGN_DOUBLE));
	values[18] = text_array(invoice_ids, n);
	values[19] = text_array(payment_refs, n);
	rc = SPI_execute_plan(plans.record_batch, values, NULL, false, 0);
	momo_spi_check(rc, SPI_OK_UPDATE_RETURNING, "recording answers from MTN");
	for (uint64 i = 0; i < SPI_processed; i++)
	{
		bool		isnull;

		if (DatumGetBool(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, Anum_record_final,
										 &isnull)))
			finals++;
	}
	return finals;
}

/*
 * Returns true if caller (the role that called momo's function) may see
 * the payment: its privileges on momo_payments (SELECT on every column) and
 * any row-level security policy decide, as for its own SELECT of the whole
 * row.  A caller without SELECT on momo_payments gets the permission ERROR
 * its own SELECT would.
 */
bool
momo_store_caller_sees(const char *schema, Oid caller, const char *reference_id)
{
	Oid			save_userid;
	int			save_sec_context;
	Datum		values[1] = {CStringGetTextDatum(reference_id)};
	volatile int rc = 0;

	use_schema(schema);
	if (plans.caller_sees == NULL)
	{
		Oid			types[1] = {TEXTOID};

		/*
		 * The plan cache re-plans it for each role it runs as when a
		 * row-level security policy applies.
		 */
		plans.caller_sees = momo_spi_prepare_kept(psprintf("SELECT p FROM %s.momo_payments p"
												  " WHERE p.reference_id = $1::uuid",
												  schema),
										 1, types, 0);
	}
	momo_owner_as_caller(caller, &save_userid, &save_sec_context);
	PG_TRY();
	{
		/* The whole row: a caller with SELECT on some columns only sees no payment. */
		rc = SPI_execute_plan(plans.caller_sees, values, NULL, true, 1);
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec_context);
	}
	PG_END_TRY();
	momo_spi_check(rc, SPI_OK_SELECT, "checking the caller's view of a payment");
	return SPI_processed == 1;
}

/*
 * Locks the payment reference_id of schema's momo_payments (FOR NO KEY
 * UPDATE: an application's foreign key to it is not blocked), waiting for a
 * transaction that holds it, as the caller's lock_timeout allows; returns
 * false if there is no such payment.  Acts that must not run twice at once
 * for one payment (refunds of it, its cancellation) queue up behind each
 * other this way (the worker's claims pass over it); in READ COMMITTED, the
 * next query then sees what the transaction before committed, in REPEATABLE
 * READ or SERIALIZABLE the second gets a serialization failure.
 */
bool
momo_store_lock(const char *schema, const char *reference_id)
{
	Datum		values[1] = {CStringGetTextDatum(reference_id)};
	Oid			types[1] = {TEXTOID};
	int			rc;

	rc = SPI_execute_with_args(psprintf("SELECT FROM %s.momo_payments WHERE reference_id = $1::uuid FOR NO KEY UPDATE",
										schema),
							   1, types, values, NULL, false, 1);
	momo_spi_check(rc, SPI_OK_SELECT, "locking the payment");
	return SPI_processed == 1;
}

/*
 * Returns true if caller may read every payment (SELECT on momo_payments,
 * and no row-level security applies to it): a merchant's role rather than
 * a tenant's.
 */
bool
momo_store_caller_sees_all(const char *schema, Oid caller)
{
	Oid			save_userid;
	int			save_sec_context;
	volatile int rc = 0;
	char	   *table = quote_literal_cstr(psprintf("%s.momo_payments", schema));
	bool		isnull;

	momo_owner_as_caller(caller, &save_userid, &save_sec_context);
	PG_TRY();
	{
		rc = SPI_execute(psprintf("SELECT pg_catalog.has_table_privilege(%s, 'SELECT')"
								  " AND NOT pg_catalog.row_security_active(%s)", table, table),
						 true, 1);
	}
	PG_FINALLY();
	{
		SetUserIdAndSecContext(save_userid, save_sec_context);
	}
	PG_END_TRY();
	momo_spi_check(rc, SPI_OK_SELECT, "checking the caller's view of the payments");
	return SPI_processed == 1 &&
		DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)) && !isnull;
}

/* Appends one exchange with MTN that concerns no queued payment to momo_events. */
void
momo_store_log_event(const char *schema, const char *reference_id, const char *product,
					 const char *operation, int http_status, const char *outcome,
					 const char *reason, double latency_ms, const char *error)
{
	momo_store_log_event_at(schema, 0, reference_id, product, operation, http_status, outcome,
							reason, latency_ms, error);
}

/* The same, of an exchange at time at (0: now). */
void
momo_store_log_event_at(const char *schema, TimestampTz at, const char *reference_id,
						const char *product, const char *operation, int http_status,
						const char *outcome, const char *reason, double latency_ms,
						const char *error)
{
	Oid			types[9] = {TEXTOID, TEXTOID, TEXTOID, INT4OID, TEXTOID, TEXTOID, FLOAT8OID, TEXTOID,
	TIMESTAMPTZOID};
	Datum		values[9];
	char		nulls[9] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	int			rc;

	values[0] = reference_id ? CStringGetTextDatum(reference_id) : (Datum) 0;
	nulls[0] = reference_id ? ' ' : 'n';
	values[1] = CStringGetTextDatum(product);
	values[2] = CStringGetTextDatum(operation);
	values[3] = Int32GetDatum(http_status);
	nulls[3] = http_status ? ' ' : 'n';
	values[4] = CStringGetTextDatum(outcome);
	values[5] = reason ? CStringGetTextDatum(clip(reason, 100)) : (Datum) 0;
	nulls[5] = reason ? ' ' : 'n';
	values[6] = Float8GetDatum(latency_ms);
	values[7] = error ? CStringGetTextDatum(clip(error, 500)) : (Datum) 0;
	nulls[7] = error ? ' ' : 'n';
	values[8] = TimestampTzGetDatum(at);
	nulls[8] = at ? ' ' : 'n';
	rc = SPI_execute_with_args(psprintf("INSERT INTO %s.momo_events (reference_id, product, operation,"
										" http_status, outcome, reason, latency_ms, error, at)"
										" VALUES ($1::uuid, $2, $3, $4, $5, $6, $7, $8,"
										"  COALESCE($9, pg_catalog.now()))", schema),
							   9, types, values, nulls, false, 0);
	momo_spi_check(rc, SPI_OK_INSERT, "logging an exchange with MTN");
}

/*
 * Deletes at most limit events older than momo.event_retention, passing over
 * any that a transaction holds; returns how many it deleted.
 */
uint64
momo_store_purge_events(const char *schema, int limit)
{
	int			rc;

	rc = SPI_execute(psprintf("DELETE FROM %s.momo_events WHERE id IN"
							  " (SELECT id FROM %s.momo_events"
							  "  WHERE at < pg_catalog.now() - pg_catalog.make_interval(secs => %d)"
							  "  LIMIT %d FOR UPDATE SKIP LOCKED)",
							  schema, schema, momo_event_retention_s, limit), false, 0);
	momo_spi_check(rc, SPI_OK_DELETE, "purging old events");
	return SPI_processed;
}

/*
 * Milliseconds until the next payment falls due (0 if one is due), or -1 if
 * none is waiting; payments named in skip are passed over.
 */
long
momo_store_next_due_ms(const char *schema, char **skip, int nskip)
{
	Datum		values[1];
	int			rc;
	bool		isnull;
	Datum		d;
	int			nest;

	prepare_plans(schema);
	values[0] = uuid_array(skip, nskip);
	nest = steer_to_indexes(true);
	rc = SPI_execute_plan(plans.next_due, values, NULL, true, 1);
	AtEOXact_GUC(true, nest);
	momo_spi_check(rc, SPI_OK_SELECT, "looking for due payments");
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, Anum_next_due_ms, &isnull);
	if (isnull)
		return -1;
	return DatumGetFloat8(d) <= 0.0 ? 0 : (long) Min(ceil(DatumGetFloat8(d)), 1.0e9);
}

/*
 * Of the n payments named in refs (claimed to be sent, and waiting since
 * their claim committed), sets sendable[i] to whether refs[i] is still
 * queued with its sends not refused: a transaction may have made it final,
 * or removed it, since.  One read by primary key.
 */
void
momo_store_sendable(const char *schema, char **refs, int n, bool *sendable)
{
	Datum		values[1];
	int			rc;
	int			nest;

	prepare_plans(schema);
	for (int i = 0; i < n; i++)
		sendable[i] = false;
	values[0] = uuid_array(refs, n);
	nest = steer_to_indexes(false);
	rc = SPI_execute_plan(plans.sendable, values, NULL, true, 0);
	AtEOXact_GUC(true, nest);
	momo_spi_check(rc, SPI_OK_SELECT, "looking at payments about to be sent");
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		char	   *ref = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc, 1);
		bool		isnull;
		bool		queued = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[r], SPI_tuptable->tupdesc,
														2, &isnull));

		for (int i = 0; i < n; i++)
			if (ref && !isnull && queued && strcmp(refs[i], ref) == 0)
				sendable[i] = true;
	}
	SPI_freetuptable(SPI_tuptable);
}

/*
 * What momo_store_progress asks about: payment reference_id of schema.
 * Prepares the statement and builds its argument once, in the caller's
 * memory context, before momo_await's loop: preparing looks the table up
 * (allocating a name list and more, about 400 bytes), and the loop runs
 * with SPI connected, whose memory is freed only when the call ends --
 * up to 100 wake-ups a second while the standby of momo.wait_for_standby
 * is waited for.
 */
Datum
momo_store_progress_key(const char *schema, const char *reference_id)
{
	prepare_plans(schema);
	return CStringGetTextDatum(reference_id);
}

/*
 * Whether a payment is final, cheaply (momo_await asks this at every
 * wake-up, and reads the whole row once at the end): 1 final, 0 not yet,
 * -1 no such payment.  *xmin is its row version's inserting transaction.
 * key is momo_store_progress_key's; nothing is left allocated.
 */
int
momo_store_progress(Datum key, TransactionId *xmin)
{
	Datum		values[1] = {key};
	bool		isnull;
	int			rc;
	int			result;

	if (plans.progress == NULL)
		elog(ERROR, "momo_store_progress called before momo_store_progress_key");
	/* Not read-only: a new snapshot each time, to see the worker's commits. */
	rc = SPI_execute_plan(plans.progress, values, NULL, false, 1);
	momo_spi_check(rc, SPI_OK_SELECT, "reading a payment's status");
	if (SPI_processed == 0)
	{
		SPI_freetuptable(SPI_tuptable);
		return -1;
	}
	*xmin = DatumGetTransactionId(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
														Anum_progress_xmin, &isnull));
	result = DatumGetBool(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc,
										   Anum_progress_final, &isnull)) ? 1 : 0;
	/* Called in a loop with SPI connected: nothing may pile up. */
	SPI_freetuptable(SPI_tuptable);
	return result;
}

/*
 * Sets waiting[i] for each of the n products that has payments not yet final
 * (queued or pending).
 */
void
momo_store_products_waiting(const char *schema, char **products, int n, bool *waiting)
{
	Oid			types[1] = {TEXTARRAYOID};
	Datum		values[1];
	int			rc;

	for (int i = 0; i < n; i++)
		waiting[i] = false;
	if (n == 0)
		return;
	values[0] = text_array(products, n);
	rc = SPI_execute_with_args(psprintf("SELECT w.product FROM pg_catalog.unnest($1) AS w(product)"
										" WHERE EXISTS (SELECT FROM %s.momo_payments p"
										"  WHERE p.status IN " MOMO_SQL_OPEN_STATUSES " AND p.product = w.product)",
										schema),
							   1, types, values, NULL, true, 0);
	momo_spi_check(rc, SPI_OK_SELECT, "looking for payments of products not in use");
	for (uint64 r = 0; r < SPI_processed; r++)
	{
		char	   *name = SPI_getvalue(SPI_tuptable->vals[r], SPI_tuptable->tupdesc,
										  Anum_waiting_product);

		for (int i = 0; i < n; i++)
			if (strcmp(products[i], name) == 0)
				waiting[i] = true;
	}
}

/*
 * Before DROP EXTENSION momo: a WARNING with the number of payments that
 * are not final, which the drop discards.  MTN may still collect or pay
 * them; momo never learns their outcome, and the same payment requested
 * again after CREATE EXTENSION is a new one (a red team had a payer charged
 * twice that way).  Counted only while superusers alone control momo's
 * schema (otherwise the name could be anyone's table), as the dropping
 * superuser, whom row level security does not limit.
 */
void
momo_store_warn_drop(void)
{
	Oid			nsp = momo_version_extension_lookup(NULL);
	char	   *sql;
	int64		open;
	bool		isnull;

	/* Only a superuser may drop momo (it is created by one): for others, PostgreSQL's ERROR. */
	if (!superuser() || !OidIsValid(nsp) || !OidIsValid(get_relname_relid("momo_payments", nsp)) ||
		momo_owner_schema_problem(nsp) != NULL)
		return;
	sql = psprintf("SELECT pg_catalog.count(*) FROM %s.momo_payments WHERE completed_at IS NULL",
				   quote_identifier(get_namespace_name(nsp)));
	momo_spi_connect();
	momo_spi_check(SPI_execute(sql, true, 0), SPI_OK_SELECT, "counting the payments that are not final");
	open = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	if (open > 0)
		ereport(WARNING,
				(errcode(ERRCODE_WARNING),
				 errmsg_plural("dropping momo discards %lld payment that is not final",
							   "dropping momo discards %lld payments that are not final",
							   open, (long long) open),
				 errdetail("MTN may still act on what was sent, and momo will not learn the outcome; a payment requested again after CREATE EXTENSION momo is a new one."),
				 errhint("Roll back, and drop momo once SELECT count(*) FROM momo_payments WHERE completed_at IS NULL returns 0.")));
}
