/*-------------------------------------------------------------------------
 *
 * callback.c
 *	  momo_callback: the application's web endpoint hands MTN's callbacks to
 *	  it.  MTN's callbacks are unsigned and carry no reference id, so momo
 *	  sends an X-Callback-Url carrying the reference id and an HMAC-SHA256 of
 *	  it under momo.callback_secret.  A callback whose signature is wrong is
 *	  ignored; one about a final, unknown or just-announced payment too.  The
 *	  body's status is never trusted: a valid callback only makes the worker
 *	  ask MTN for the status at once, and that answer decides.
 *
 *	  Anyone who knows the callback URL can call it, as often as it likes, so
 *	  nothing a callback carries is kept or logged before its signature is
 *	  checked, and an ignored callback leaves no row: it is counted in shared
 *	  memory (momo_ignored_callbacks, momo_stats), and a forged one is logged
 *	  at most once a minute in the whole cluster, as fixed text with a count.
 *	  A signed one that schedules a status check (at most once per payment
 *	  per duplicate window) leaves an event row with its reference id and, of
 *	  its body, only the claimed status when it is one of MTN's status words.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/crypto.h>

#include "access/detoast.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "answers.h"
#include "lifecycle.h"
#include "momo.h"
#include "owner.h"
#include "protocol.h"
#include "settings.h"
#include "spi_util.h"
#include "store.h"
#include "validate.h"

PG_FUNCTION_INFO_V1(momo_callback);

/*
 * Signed callbacks about one payment closer together than this, or than the
 * shortest polling interval if longer, are duplicates: replaying a valid URL
 * buys at most one status check per payment per window, and never checks
 * more often than the worker's own polling would at its fastest.
 */
#define DUPLICATE_WINDOW_MS 5000

/*
 * Counts a forged callback, and logs it rate-limited (momo_count_ignored_callback):
 * a fixed text, never anything the callback carried, and at most one line
 * per interval in the whole cluster, with the count of those not logged in
 * between.  The statement and the context are left out: at LOG level the
 * server would add the calling statement, which may carry the callback's
 * query string and body as literals.
 */
static void
log_forged(void)
{
	bool		log_now;
	uint64		unlogged = momo_count_ignored_callback(MOMO_CALLBACK_FORGED, &log_now);

	if (!log_now)
		return;
	if (unlogged > 0)
		ereport(LOG,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("momo_callback ignored a forged callback"),
				 errdetail_plural("%llu more forged callback was ignored since the previous such message without being logged.",
								  "%llu more forged callbacks were ignored since the previous such message without being logged.",
								  (unsigned long) unlogged,
								  (unsigned long long) unlogged),
				 errhidestmt(true), errhidecontext(true)));
	else
		ereport(LOG,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("momo_callback ignored a forged callback"),
				 errdetail("Its reference id or signature was wrong; nothing it carried is logged or kept."),
				 errhidestmt(true), errhidecontext(true)));
}

/* Counts an ignored callback (not forged) and returns the verdict as text. */
static Datum
ignored(MomoActing *a, MomoIgnoredCallback why, const char *text)
{
	bool		log_now;

	(void) momo_count_ignored_callback(why, &log_now);
	momo_owner_leave(a);
	return CStringGetTextDatum(text);
}

/*
 * Logs a callback that scheduled a status check in momo_events (at most one
 * per payment per duplicate window) and returns the verdict as text.  ref
 * must be proved by the signature, and claimed NULL or one of MTN's status
 * words.  Ignored callbacks are only counted (ignored, log_forged).
 */
static Datum
verdict(MomoActing *a, const char *ref, const char *outcome, const char *claimed,
		const char *text)
{
	momo_store_log_event(a->schema, ref, momo_product_names[MOMO_COLLECTION], "callback", 0, outcome,
						 claimed, 0, NULL);
	momo_owner_leave(a);
	return CStringGetTextDatum(text);
}

/*
 * momo_callback(query_string, body): takes a callback from MTN, as the web
 * endpoint received it, and returns what momo did with it: "scheduled" (a
 * status check is due now) or "ignored: <why>".
 */
Datum
momo_callback(PG_FUNCTION_ARGS)
{
	char	   *query;
	char	   *ref;
	char	   *sig;
	char	   *expected;
	const char *claimed = NULL;
	MomoActing	a;
	char	   *schema;
	bool		valid_query;
	MomoConfig	cfg;
	Oid			types[2] = {TEXTOID, FLOAT8OID};
	Datum		values[2];
	int			rc;

	momo_validate_require_arg(fcinfo, 0, "query_string");
	query = text_to_cstring(PG_GETARG_TEXT_PP(0));
	momo_require_preload();
	momo_settings_resolve(&cfg, MOMO_COLLECTION);
	valid_query = momo_answers_parse_callback_query(query, &ref, &sig);

	momo_owner_enter(fcinfo, &a);
	schema = a.schema;
	if (!valid_query)
	{
		log_forged();
		momo_owner_leave(&a);
		PG_RETURN_TEXT_P(cstring_to_text("ignored: no valid momo_ref in the query string"));
	}
	if (cfg.callback_secret == NULL)
		PG_RETURN_DATUM(ignored(&a, MOMO_CALLBACK_UNVERIFIED,
								"ignored: momo.callback_secret is not set, so callbacks cannot be verified"));
	expected = momo_protocol_callback_signature(cfg.callback_secret, ref);
	if (sig == NULL || strlen(sig) != strlen(expected) ||
		CRYPTO_memcmp(sig, expected, strlen(expected)) != 0)
	{
		log_forged();
		momo_owner_leave(&a);
		PG_RETURN_TEXT_P(cstring_to_text("ignored: bad signature"));
	}

	/*
	 * The signature proves the reference id, not the body: a signed URL can
	 * be replayed with any body.  Only a status word is read from it, for the
	 * event log, and only from a body of a size MTN sends.
	 */
	if (!PG_ARGISNULL(1) &&
		toast_raw_datum_size(PG_GETARG_DATUM(1)) - VARHDRSZ <= MOMO_MAX_CALLBACK_BODY)
	{
		text	   *body = PG_GETARG_TEXT_PP(1);

		claimed = momo_answers_callback_claimed_status(VARDATA_ANY(body), VARSIZE_ANY_EXHDR(body));
	}

	values[0] = CStringGetTextDatum(ref);
	values[1] = Float8GetDatum(Max(DUPLICATE_WINDOW_MS,
									Min(momo_poll_interval_min_ms, momo_poll_interval_max_ms)) / 1000.0);
	/*
	 * Never waits for a lock: a transaction that holds the payment's row (a
	 * cancellation, a status check, an application's own) would hold up the
	 * callback endpoint, and every callback behind it, for as long as it
	 * stays open.  A payment locked so is being asked about already; the
	 * worker asks in its turn.
	 */
	rc = SPI_execute_with_args(psprintf("UPDATE %s.momo_payments SET callback_at = pg_catalog.now(),"
										" next_check_at = pg_catalog.now(), updated_at = pg_catalog.now()"
										" WHERE reference_id = $1::uuid AND status IN " MOMO_SQL_OPEN_STATUSES
										"   AND (callback_at IS NULL"
										"        OR callback_at < pg_catalog.now() - pg_catalog.make_interval(secs => $2))"
										"   AND reference_id IN (SELECT l.reference_id FROM %s.momo_payments l"
										"                         WHERE l.reference_id = $1::uuid"
										"                         FOR NO KEY UPDATE SKIP LOCKED)",
										schema, schema),
							   2, types, values, NULL, false, 0);
	momo_spi_check(rc, SPI_OK_UPDATE, "recording a callback");
	if (SPI_processed == 1)
	{
		momo_wake_worker_at_commit();
		PG_RETURN_DATUM(verdict(&a, ref, "scheduled", claimed, "scheduled"));
	}

#define Anum_callback_status 1
#define Anum_callback_recent 2
	rc = SPI_execute_with_args(psprintf("SELECT status, callback_at IS NOT NULL AND callback_at >="
										" pg_catalog.now() - pg_catalog.make_interval(secs => $2)"
										" FROM %s.momo_payments WHERE reference_id = $1::uuid",
										schema),
							   2, types, values, NULL, true, 1);
	momo_spi_check(rc, SPI_OK_SELECT, "reading a payment");
	if (SPI_processed == 0)
		PG_RETURN_DATUM(ignored(&a, MOMO_CALLBACK_UNKNOWN, "ignored: unknown payment"));
	if (momo_lifecycle_is_final(momo_lifecycle_status_by_name(SPI_getvalue(SPI_tuptable->vals[0],
																			SPI_tuptable->tupdesc,
																			Anum_callback_status))))
		PG_RETURN_DATUM(ignored(&a, MOMO_CALLBACK_FINAL, "ignored: the payment is already final"));
	if (strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, Anum_callback_recent), "f") == 0)
		PG_RETURN_DATUM(ignored(&a, MOMO_CALLBACK_DUPLICATE,
								"ignored: the payment is being updated; the worker asks MTN in its turn"));
	PG_RETURN_DATUM(ignored(&a, MOMO_CALLBACK_DUPLICATE, "ignored: duplicate"));
}
