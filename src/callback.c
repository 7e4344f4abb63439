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
 *	  Anyone who knows the callback URL can call it, so nothing a callback
 *	  carries is kept or logged before its signature is checked: a forged one
 *	  leaves an event row of fixed text and, at most once a minute per
 *	  session, a LOG line of fixed text with a count.  A signed one (which may
 *	  still be a replay with another body) leaves its reference id and, of its
 *	  body, only the claimed status when it is one of MTN's status words.
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
#include "momo.h"
#include "protocol.h"
#include "settings.h"
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

/* At most one LOG line about forged callbacks per session per this interval. */
#define FORGED_LOG_INTERVAL_S 60

/* When this session last logged a forged callback, and how many it has not logged since. */
static TimestampTz forged_logged_at = 0;
static uint64 forged_unlogged = 0;

/*
 * Logs a forged callback, rate-limited: a fixed text, never anything the
 * callback carried, and at most one line per FORGED_LOG_INTERVAL_S with the
 * count of those not logged in between.  The statement and the context are
 * left out: at LOG level the server would add the calling statement, which
 * may carry the callback's query string and body as literals.
 */
static void
log_forged(void)
{
	TimestampTz now = GetCurrentTimestamp();

	if (forged_logged_at != 0 &&
		!TimestampDifferenceExceeds(forged_logged_at, now, FORGED_LOG_INTERVAL_S * 1000))
	{
		forged_unlogged++;
		return;
	}
	if (forged_unlogged > 0)
		ereport(LOG,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("momo: ignored a forged callback"),
				 errdetail_plural("This session ignored %llu more forged callback since the previous such message without logging it.",
								  "This session ignored %llu more forged callbacks since the previous such message without logging them.",
								  (unsigned long) forged_unlogged,
								  (unsigned long long) forged_unlogged),
				 errhidestmt(true), errhidecontext(true)));
	else
		ereport(LOG,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("momo: ignored a forged callback"),
				 errdetail("Its reference id or signature was wrong; nothing it carried is logged or kept."),
				 errhidestmt(true), errhidecontext(true)));
	forged_logged_at = now;
	forged_unlogged = 0;
}

/*
 * Logs the callback in momo_events and returns the verdict as text.  ref
 * must be NULL unless the signature proved it, and claimed NULL or one of
 * MTN's status words.
 */
static Datum
verdict(const char *schema, const char *ref, const char *outcome, const char *claimed,
		const char *text)
{
	momo_store_log_event(schema, ref, "collection", "callback", 0, outcome,
						 claimed, 0, NULL);
	SPI_finish();
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
	char	   *schema;
	bool		valid_query;
	MomoConfig	cfg;
	Oid			types[2] = {TEXTOID, FLOAT8OID};
	Datum		values[2];
	int			rc;

	momo_require_arg(fcinfo, 0, "query_string");
	query = text_to_cstring(PG_GETARG_TEXT_PP(0));
	momo_require_preload();
	momo_config_resolve(&cfg, MOMO_COLLECTION);
	schema = momo_store_function_schema(fcinfo);
	valid_query = momo_parse_callback_query(query, &ref, &sig);

	if ((rc = SPI_connect()) != SPI_OK_CONNECT)
		elog(ERROR, "momo: SPI_connect failed: %s", SPI_result_code_string(rc));
	if (!valid_query)
	{
		log_forged();
		PG_RETURN_DATUM(verdict(schema, NULL, "forged", NULL,
								"ignored: no valid momo_ref in the query string"));
	}
	if (cfg.callback_secret == NULL)
		PG_RETURN_DATUM(verdict(schema, NULL, "unverified", NULL,
								"ignored: momo.callback_secret is not set, so callbacks cannot be verified"));
	expected = momo_callback_signature(cfg.callback_secret, ref);
	if (sig == NULL || strlen(sig) != strlen(expected) ||
		CRYPTO_memcmp(sig, expected, strlen(expected)) != 0)
	{
		log_forged();
		PG_RETURN_DATUM(verdict(schema, NULL, "forged", NULL, "ignored: bad signature"));
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

		claimed = momo_callback_claimed_status(VARDATA_ANY(body), VARSIZE_ANY_EXHDR(body));
	}

	values[0] = CStringGetTextDatum(ref);
	values[1] = Float8GetDatum(Max(DUPLICATE_WINDOW_MS,
									Min(momo_poll_interval_min_ms, momo_poll_interval_max_ms)) / 1000.0);
	rc = SPI_execute_with_args(psprintf("UPDATE %s.momo_payments SET callback_at = pg_catalog.now(),"
										" next_check_at = pg_catalog.now(), updated_at = pg_catalog.now()"
										" WHERE reference_id = $1::uuid AND status IN ('queued', 'pending')"
										"   AND (callback_at IS NULL"
										"        OR callback_at < pg_catalog.now() - pg_catalog.make_interval(secs => $2))",
										schema),
							   2, types, values, NULL, false, 0);
	if (rc != SPI_OK_UPDATE)
		elog(ERROR, "momo: recording a callback failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 1)
	{
		momo_wake_worker_at_commit();
		PG_RETURN_DATUM(verdict(schema, ref, "scheduled", claimed, "scheduled"));
	}

	rc = SPI_execute_with_args(psprintf("SELECT status FROM %s.momo_payments WHERE reference_id = $1::uuid",
										schema),
							   1, types, values, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "momo: reading a payment failed: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
		PG_RETURN_DATUM(verdict(schema, ref, "unknown", claimed, "ignored: unknown payment"));
	if (strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), "pending") != 0 &&
		strcmp(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1), "queued") != 0)
		PG_RETURN_DATUM(verdict(schema, ref, "final", claimed, "ignored: the payment is already final"));
	PG_RETURN_DATUM(verdict(schema, ref, "duplicate", claimed, "ignored: duplicate"));
}
