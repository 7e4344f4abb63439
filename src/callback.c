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
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/crypto.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"

#include "answers.h"
#include "momo.h"
#include "protocol.h"
#include "settings.h"
#include "store.h"
#include "validate.h"

PG_FUNCTION_INFO_V1(momo_callback);

/* Callbacks about one payment closer together than this are duplicates. */
#define DUPLICATE_WINDOW "5 seconds"

/* Logs the callback in momo_events and returns the verdict as text. */
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
	char	   *body = PG_ARGISNULL(1) ? NULL : text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *ref;
	char	   *sig;
	char	   *expected;
	char	   *claimed = NULL;
	char	   *external_id = NULL;
	char	   *schema;
	MomoConfig	cfg;
	Oid			types[1] = {TEXTOID};
	Datum		values[1];
	int			rc;

	momo_require_arg(fcinfo, 0, "query_string");
	query = text_to_cstring(PG_GETARG_TEXT_PP(0));
	momo_require_preload();
	momo_config_resolve(&cfg, MOMO_COLLECTION);
	schema = momo_store_function_schema(fcinfo);
	if (body)
		(void) momo_parse_callback_body(body, strlen(body), &claimed, &external_id);

	if ((rc = SPI_connect()) != SPI_OK_CONNECT)
		elog(ERROR, "momo: SPI_connect failed: %s", SPI_result_code_string(rc));
	if (!momo_parse_callback_query(query, &ref, &sig))
		PG_RETURN_DATUM(verdict(schema, NULL, "forged", claimed,
								"ignored: no valid momo_ref in the query string"));
	if (cfg.callback_secret == NULL)
		PG_RETURN_DATUM(verdict(schema, ref, "unverified", claimed,
								"ignored: momo.callback_secret is not set, so callbacks cannot be verified"));
	expected = momo_callback_signature(cfg.callback_secret, ref);
	if (sig == NULL || strlen(sig) != strlen(expected) ||
		CRYPTO_memcmp(sig, expected, strlen(expected)) != 0)
	{
		ereport(LOG,
				(errmsg("momo: ignored a callback with a wrong signature for payment %s", ref)));
		PG_RETURN_DATUM(verdict(schema, ref, "forged", claimed, "ignored: bad signature"));
	}

	values[0] = CStringGetTextDatum(ref);
	rc = SPI_execute_with_args(psprintf("UPDATE %s.momo_payments SET callback_at = pg_catalog.now(),"
										" next_check_at = pg_catalog.now(), updated_at = pg_catalog.now()"
										" WHERE reference_id = $1::uuid AND status IN ('queued', 'pending')"
										"   AND (callback_at IS NULL"
										"        OR callback_at < pg_catalog.now() - interval '" DUPLICATE_WINDOW "')",
										schema),
							   1, types, values, NULL, false, 0);
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
