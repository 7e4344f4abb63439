/*-------------------------------------------------------------------------
 *
 * api.c
 *	  Access tokens and exchanges with MTN.
 *
 *	  One access token per product is cached in shared memory for every
 *	  backend and the worker, and refreshed momo.token_refresh_margin before
 *	  it expires or when the credentials change.  When MTN refuses a
 *	  product's subscription key and its other key is set, every process
 *	  switches that product to the other key (key rotation); a product on
 *	  its secondary key tries the primary again whenever it needs a new
 *	  token, and goes back to it once MTN accepts it.  Products never share
 *	  key state.  Calls are started one by one (momo_api_start) and driven
 *	  together (momo_api_step), so that the worker can add calls whenever a
 *	  slot is free while others are in flight; a call answered 401 is
 *	  repeated once with a fresh token, and each call gets one final answer.
 *	  A token fetched meanwhile does not take the answers of the calls in
 *	  flight: it runs alone (momo_http_perform).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "miscadmin.h"
#include "storage/lwlock.h"
#include "utils/timestamp.h"

#include "api.h"
#include "momo.h"
#include "settings.h"

/* Asks MTN for a new access token with subscription key `key`. */
static MomoTokenResult
fetch_token(MomoHttpClient *client, const MomoConfig *cfg, int key,
			char **token, int *expires_in, char **error)
{
	MomoHttpRequest *req = momo_protocol_token_request(cfg, key);
	MomoTokenResult r;

	PG_TRY();
	{
		momo_http_perform(client, cfg, req);
	}
	PG_FINALLY();
	{
		explicit_bzero(req->userpwd, strlen(req->userpwd));
	}
	PG_END_TRY();

	r = momo_answers_parse_token(req->status, req->response, req->response_len,
								 token, expires_in, error);
	if (r == MOMO_TOKEN_TRANSIENT && req->status == 0)
		*error = psprintf("token request failed: %s", momo_http_describe_failure(req));
	return r;
}

/*
 * Records in the product's shared slot that it now uses subscription key
 * `to`, and logs the switch if it is one; the caller holds the lock
 * exclusively.  Returns the key the slot used before.  A switch is logged
 * once, by the process that made it.
 */
static int
set_slot_key(MomoTokenSlot *slot, uint32 hash, int to)
{
	int			from = (slot->credentials_hash == hash) ? slot->key : 0;

	slot->credentials_hash = hash;
	slot->key = to;
	return from;
}

/* Logs a switch of the subscription key of cfg's product from `from` to `to`. */
static void
log_key_switch(const MomoConfig *cfg, int from, int to, bool refused)
{
	const char *product = momo_product_names[cfg->product];

	if (from == to)
		return;
	if (to == 1)
		ereport(LOG,
				(errmsg("MTN refused the %s primary subscription key; switching to the secondary key",
						product)));
	else if (refused)
		ereport(LOG,
				(errmsg("MTN refused the %s secondary subscription key; switching back to the primary key",
						product)));
	else
		ereport(LOG,
				(errmsg("MTN accepts the %s primary subscription key again; switching back to it",
						product)));
}

/*
 * Returns an access token for cfg in *token and the subscription key index
 * it goes with in *key.  refused, when not NULL, is a token MTN just
 * refused: it is not handed out again.
 *
 * Each product keeps its own key state.  A new token is asked for with the
 * key the product uses; if MTN refuses that key and the other one is set,
 * with the other one (either way: a refused secondary key sends the product
 * back to its primary).  A product that uses its secondary key tries its
 * primary again each time it needs a new token for another reason than a
 * refused key (its token is due for refresh, or was refused), and goes back
 * to the primary as soon as MTN accepts it: a key refused once, for
 * whatever reason, is not given up for good.
 */
MomoTokenResult
momo_api_get_token(MomoHttpClient *client, const MomoConfig *cfg, const char *refused,
				   char **token, int *key, char **error)
{
	uint32		hash = momo_settings_credentials_hash(cfg);
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz fresh_until = TimestampTzPlusMilliseconds(now, momo_token_refresh_margin_s * 1000L);
	MomoTokenSlot *slot = &momo_shared->token[cfg->product];
	MomoTokenResult r;
	int			use_key = 0;
	bool		retry_primary = false;
	bool		fell_back = false;
	int			from;
	int			expires_in;

	*token = NULL;
	*error = NULL;
	LWLockAcquire(momo_shared->lock, LW_SHARED);
	if (slot->credentials_hash == hash)
	{
		use_key = slot->key;
		if (slot->token[0] != '\0' && slot->expires_at > fresh_until &&
			(refused == NULL || strcmp(refused, slot->token) != 0))
			*token = pstrdup(slot->token);
		/* A token of the secondary key to replace: the primary first. */
		retry_primary = (use_key == 1 && slot->token[0] != '\0');
	}
	LWLockRelease(momo_shared->lock);
	*key = use_key;
	if (*token)
		return MOMO_TOKEN_OK;
	if (cfg->subscription_key[use_key] == NULL)
		use_key = 0;

	if (retry_primary)
	{
		r = fetch_token(client, cfg, 0, token, &expires_in, error);
		if (r == MOMO_TOKEN_OK)
			use_key = 0;
		else
			r = fetch_token(client, cfg, 1, token, &expires_in, error);
	}
	else
	{
		r = fetch_token(client, cfg, use_key, token, &expires_in, error);
		if (r == MOMO_TOKEN_KEY_REFUSED && cfg->subscription_key[1 - use_key] != NULL)
		{
			use_key = 1 - use_key;
			fell_back = true;
			r = fetch_token(client, cfg, use_key, token, &expires_in, error);
		}
	}
	if (r != MOMO_TOKEN_OK)
	{
		/* For momo_health: since when no token comes. */
		LWLockAcquire(momo_shared->lock, LW_EXCLUSIVE);
		slot->failures++;
		if (slot->failed_at <= slot->obtained_at || slot->failed_hash != hash)
			slot->failed_since = now;
		slot->failed_at = now;
		slot->failed_hash = hash;
		LWLockRelease(momo_shared->lock);
		return r;
	}

	LWLockAcquire(momo_shared->lock, LW_EXCLUSIVE);
	from = set_slot_key(slot, hash, use_key);
	slot->expires_at = TimestampTzPlusMilliseconds(now, expires_in * 1000L);
	slot->refreshes++;
	slot->obtained_at = now;
	strlcpy(slot->token, *token, sizeof(slot->token));
	LWLockRelease(momo_shared->lock);
	log_key_switch(cfg, from, use_key, fell_back);
	*key = use_key;
	return MOMO_TOKEN_OK;
}

/*
 * MTN refused subscription key `key_refused` of cfg's product on a call:
 * the product switches to its other key, if it is set and the product
 * still uses the refused one, and forgets its token.  Only cfg's product
 * is touched.  Returns true if it switched.
 */
static bool
switch_key(const MomoConfig *cfg, int key_refused)
{
	uint32		hash = momo_settings_credentials_hash(cfg);
	MomoTokenSlot *slot = &momo_shared->token[cfg->product];
	int			other = 1 - key_refused;
	int			from = other;

	if (cfg->subscription_key[other] == NULL)
		return false;
	LWLockAcquire(momo_shared->lock, LW_EXCLUSIVE);
	if (slot->credentials_hash == hash && slot->key == key_refused)
	{
		from = set_slot_key(slot, hash, other);
		slot->token[0] = '\0';
	}
	LWLockRelease(momo_shared->lock);
	log_key_switch(cfg, from, other, true);
	return from != other;
}

/* Raises the ERROR that describes a failure to get an access token. */
void
momo_api_raise_token_error(const MomoConfig *cfg, MomoTokenResult r, const char *error)
{
	const char *user;
	const char *key;
	const char *primary;
	const char *secondary;

	momo_settings_credential_names(cfg->product, &user, &key, &primary, &secondary);
	if (r == MOMO_TOKEN_KEY_REFUSED)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("MTN refused the %s subscription key", momo_product_names[cfg->product]),
				 errdetail("%s", error),
				 errhint("Check %s and %s: they must be the %s keys of your MoMo developer profile.",
						 primary, secondary, momo_product_names[cfg->product])));
	if (r == MOMO_TOKEN_LOGIN_FAILED)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_AUTHORIZATION_SPECIFICATION),
				 errmsg("MTN refused the %s API user and key", momo_product_names[cfg->product]),
				 errdetail("%s", error),
				 errhint("Check %s and %s, and that the API user belongs to this subscription and environment.",
						 user, key)));
	ereport(ERROR,
			(errcode(ERRCODE_CONNECTION_FAILURE),
			 errmsg("could not get an access token from MTN"),
			 errdetail("%s", error ? error : "no detail"),
			 errhint("Check momo.base_url and the network path to MTN; the call can be repeated.")));
}

/*
 * Starts call: builds its request with its product's access token (a new
 * one if call->refused, the token MTN refused on its first try, is still
 * the cached one) in call->cxt, and adds it to the transfers of client's
 * multi handle, where momo_api_step drives it.  Returns MOMO_TOKEN_OK, or
 * why no token could be had (*error says more; nothing started).
 */
MomoTokenResult
momo_api_start(MomoHttpClient *client, MomoCall *call, int max_in_flight, char **error)
{
	const MomoConfig *cfg = call->cfg;
	MomoProduct product = momo_protocol_operation_product(call->terms->operation);
	MemoryContext old;
	MomoHttpRequest *req;
	MomoTokenResult r;
	char	   *token;

	/*
	 * A call must be sent with its own product's credentials: sent with
	 * another product's, it would be refused (401), and the refusal would
	 * change the key state of the wrong product.
	 */
	if (product != cfg->product)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("a %s payment cannot be sent with the %s credentials",
						momo_product_names[product], momo_product_names[cfg->product])));
	old = MemoryContextSwitchTo(call->cxt);
	r = momo_api_get_token(client, cfg, call->refused, &token, &call->key, error);
	if (r == MOMO_TOKEN_OK)
	{
		req = momo_protocol_request(cfg, call->key, token, call->op, call->terms);
		req->context = call;
		call->token = token;
		momo_http_start(client, cfg, req, max_in_flight);
	}
	MemoryContextSwitchTo(old);
	return r;
}

typedef struct StepState
{
	MomoHttpClient *client;
	int			max_in_flight;
	MomoAnswerFn fn;
	void	   *arg;
} StepState;

/*
 * A finished request: its call's final answer goes to the caller, but a
 * first try answered 401 is made once more with a fresh token (with the
 * product's other subscription key if MTN refused the key).
 */
static void
step_done(MomoHttpRequest *req, void *arg)
{
	StepState  *st = (StepState *) arg;
	MomoCall   *call = (MomoCall *) req->context;
	MemoryContext old = MemoryContextSwitchTo(call->cxt);

	momo_protocol_classify(call->op, req, &call->answer);
	momo_http_request_free(req);
	if (call->refused == NULL &&
		(call->answer.verdict == MOMO_TOKEN_REFUSED || call->answer.verdict == MOMO_KEY_REFUSED))
	{
		char	   *error = NULL;
		MomoTokenResult r;

		if (call->answer.verdict == MOMO_KEY_REFUSED)
			switch_key(call->cfg, call->key);
		call->refused = call->token;
		r = momo_api_start(st->client, call, st->max_in_flight, &error);
		if (r == MOMO_TOKEN_OK)
		{
			MemoryContextSwitchTo(old);
			return;
		}
		call->answer.error = psprintf("%s; then no new access token: %s",
									  call->answer.error ? call->answer.error : "HTTP 401",
									  error ? error : "unknown");
	}
	MemoryContextSwitchTo(old);
	st->fn(call, &call->answer, st->arg);
}

/*
 * Drives the calls in flight for at most timeout_ms (see momo_http_step),
 * and hands fn the final answer of each call that has one.  A call answered
 * 401 on its first try is started again at once with a fresh token; its
 * second answer is final.  Returns how many requests finished.
 */
int
momo_api_step(MomoHttpClient *client, long timeout_ms, int max_in_flight,
			  MomoAnswerFn fn, void *arg)
{
	StepState	st;

	st.client = client;
	st.max_in_flight = max_in_flight;
	st.fn = fn;
	st.arg = arg;
	return momo_http_step(client, timeout_ms, step_done, &st);
}

/*
 * Sends every call (all of cfg's product) with at most max_in_flight at
 * once, and hands fn one final answer per call, all before it returns.
 * Returns MOMO_TOKEN_OK, or the reason no access token could be had (then
 * nothing was sent, fn was called for no call, and *error says why).  For
 * the SQL functions; the worker drives its calls itself (worker.c).
 */
MomoTokenResult
momo_api_exchange(MomoHttpClient *client, const MomoConfig *cfg, MomoCall *calls, int ncalls,
				  int max_in_flight, MomoAnswerFn fn, void *arg, char **error)
{
	char	   *token;
	int			key;
	MomoTokenResult r;
	volatile int next = 0;

	r = momo_api_get_token(client, cfg, NULL, &token, &key, error);
	if (r != MOMO_TOKEN_OK)
		return r;
	PG_TRY();
	{
		while (next < ncalls || momo_http_in_flight(client) > 0)
		{
			while (next < ncalls && momo_http_in_flight(client) < Max(max_in_flight, 1))
			{
				MomoCall   *call = &calls[next++];

				call->cfg = cfg;
				call->cxt = CurrentMemoryContext;
				call->refused = NULL;
				if (momo_api_start(client, call, max_in_flight, error) != MOMO_TOKEN_OK)
				{
					/* The token was there a moment ago: not sent, tried again later. */
					memset(&call->answer, 0, sizeof(call->answer));
					call->answer.verdict = MOMO_RETRY;
					call->answer.not_sent = true;
					call->answer.error = psprintf("no access token: %s", *error ? *error : "unknown");
					fn(call, &call->answer, arg);
				}
			}
			(void) momo_api_step(client, 100, max_in_flight, fn, arg);
			CHECK_FOR_INTERRUPTS();
		}
	}
	PG_CATCH();
	{
		momo_http_abandon(client);
		PG_RE_THROW();
	}
	PG_END_TRY();
	return MOMO_TOKEN_OK;
}

/*
 * Makes one product call (GET, or POST with an optional JSON body and one
 * extra header) with the product's access token, repeating it once with a
 * fresh token after a 401, and returns the finished request.  Raises an
 * ERROR when no token can be had.
 */
MomoHttpRequest *
momo_api_call(MomoHttpClient *client, const MomoConfig *cfg, bool post, const char *path,
			  const char *body, const char *header_name, const char *header_value)
{
	MomoHttpRequest *req = NULL;
	char	   *refused = NULL;

	for (int pass = 0; pass < 2; pass++)
	{
		char	   *token;
		char	   *error;
		int			key;
		MomoTokenResult r;

		r = momo_api_get_token(client, cfg, refused, &token, &key, &error);
		if (r != MOMO_TOKEN_OK)
			momo_api_raise_token_error(cfg, r, error);
		req = momo_protocol_call(cfg, key, token, post, path);
		if (body)
		{
			req->body = pstrdup(body);
			momo_http_header(req, "Content-Type", "application/json");
		}
		if (header_name)
			momo_http_header(req, header_name, header_value);
		momo_http_perform(client, cfg, req);
		if (req->status != 401)
			break;
		if (pass == 0 && req->response_len > 0 && strstr(req->response, "subscription key"))
			switch_key(cfg, key);
		refused = token;
	}
	return req;
}
