/*-------------------------------------------------------------------------
 *
 * api.c
 *	  Access tokens and exchanges with MTN.
 *
 *	  One access token per product is cached in shared memory for every
 *	  backend and the worker, and refreshed momo.token_refresh_margin before
 *	  it expires (halfway through its life at the latest, see
 *	  refresh_due_at) or when the credentials change.  When MTN refuses a
 *	  product's subscription key and its other key is set, every process
 *	  switches that product to the other key (key rotation); a product on
 *	  its secondary key tries the primary again whenever it needs a new
 *	  token, and goes back to it once MTN accepts it.  Products never share
 *	  key state.  Calls are started one by one (momo_api_start) and driven
 *	  together (momo_api_step), so that the worker can add calls whenever a
 *	  slot is free while others are in flight; a call answered 401 is
 *	  repeated once with a fresh token, and each call gets one final answer.
 *	  A token fetched meanwhile does not take the answers of the calls in
 *	  flight: in a backend it runs alone (momo_http_perform); the worker
 *	  never waits for one: it fetches tokens in the background, on the
 *	  multi handle with its calls, keeps using a token due for refresh
 *	  until the new one comes, and leaves a product without a valid token
 *	  aside until it has one (momo_api_background_tokens).  Both paths
 *	  follow the same key rules (TokenFetch, fetch_finish).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "access/xlog.h"
#include "miscadmin.h"
#include "storage/ipc.h"
#include "storage/lwlock.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "api.h"
#include "events.h"
#include "momo.h"
#include "owner.h"
#include "settings.h"

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
 * The key state of one fetch of a new access token, shared by the
 * synchronous path (momo_api_get_token) and the worker's fetches in the
 * background (background_start): which subscription key to try next, and
 * what the tries so far decided.
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
typedef struct TokenFetch
{
	const MomoConfig *cfg;
	uint32		hash;			/* of cfg's credentials when it began */
	uint32		key_switches;	/* the slot's, when it began */
	int			restarts;		/* begun again after a switch (fetch_finish) */
	TimestampTz started;
	int			key;			/* the key of the try to make (or made) */
	bool		retry_primary;	/* that try is the primary again, for a
								 * product on its secondary key */
	bool		fell_back;		/* that try is the other key, after a refusal */
	bool		last_try;		/* no other key is tried after it */
	/* the outcome */
	MomoTokenResult result;
	char	   *token;
	int			expires_in;
	char	   *error;
} TokenFetch;

/* What fetch_finish decided. */
typedef enum FetchStep
{
	FETCH_DONE,					/* a token: in the shared slot, and in f->token */
	FETCH_AGAIN,				/* make another try, with f->key */
	FETCH_FAILED				/* no token: f->result and f->error say why */
} FetchStep;

/* How a product's cached token stands (see look_up_token). */
typedef enum TokenState
{
	TOKEN_FRESH,				/* valid, not due for refresh */
	TOKEN_DUE,					/* valid, but due for refresh */
	TOKEN_NONE					/* none, expired, refused, or of other credentials */
} TokenState;

/*
 * When the token in slot falls due for refresh: momo.token_refresh_margin
 * before it expires, or halfway through its life, whichever comes later --
 * a token never falls due as it comes, however short its life (MTN's last
 * an hour, and the margin may be an hour too).
 */
static TimestampTz
refresh_due_at(const MomoTokenSlot *slot)
{
	TimestampTz by_margin = slot->expires_at - (TimestampTz) momo_token_refresh_margin_s * USECS_PER_SEC;
	TimestampTz halfway = slot->obtained_at + (slot->expires_at - slot->obtained_at) / 2;

	return Max(by_margin, halfway);
}

/*
 * Looks at cfg's cached token: a copy of it in *token unless TOKEN_NONE,
 * and the subscription key index it goes with (or the product uses) in
 * *key.  refused, when not NULL, is a token MTN just refused: it is not
 * handed out again.
 */
static TokenState
look_up_token(const MomoConfig *cfg, const char *refused, char **token, int *key)
{
	uint32		hash = momo_settings_credentials_hash(cfg);
	TimestampTz now = GetCurrentTimestamp();
	MomoTokenSlot *slot = &momo_shared->token[cfg->product];
	TokenState	state = TOKEN_NONE;

	*token = NULL;
	*key = 0;
	LWLockAcquire(momo_shared->lock, LW_SHARED);
	if (slot->credentials_hash == hash)
	{
		*key = slot->key;
		if (slot->token[0] != '\0' && slot->expires_at > now &&
			(refused == NULL || strcmp(refused, slot->token) != 0))
		{
			state = (now < refresh_due_at(slot)) ? TOKEN_FRESH : TOKEN_DUE;
			*token = pstrdup(slot->token);
		}
	}
	LWLockRelease(momo_shared->lock);
	return state;
}

/* Begins a fetch of a new token for cfg: its first try (see TokenFetch). */
static void
fetch_begin(TokenFetch *f, const MomoConfig *cfg)
{
	MomoTokenSlot *slot = &momo_shared->token[cfg->product];
	int			use_key = 0;
	bool		retry_primary = false;

	memset(f, 0, sizeof(*f));
	f->cfg = cfg;
	f->hash = momo_settings_credentials_hash(cfg);
	f->started = GetCurrentTimestamp();
	LWLockAcquire(momo_shared->lock, LW_SHARED);
	f->key_switches = slot->key_switches;
	if (slot->credentials_hash == f->hash)
	{
		use_key = slot->key;
		/* A token of the secondary key to replace: the primary first. */
		retry_primary = (use_key == 1 && (slot->token[0] != '\0' || slot->token_refused));
	}
	LWLockRelease(momo_shared->lock);
	if (cfg->subscription_key[use_key] == NULL)
		use_key = 0;
	f->key = retry_primary ? 0 : use_key;
	f->retry_primary = retry_primary;
}

/*
 * Whether a call's refusal switched the key of f's product (switch_key)
 * since f began; the caller holds the lock.
 */
static bool
fetch_overtaken(TokenFetch *f)
{
	return momo_shared->token[f->cfg->product].key_switches != f->key_switches;
}

/*
 * f's try was overtaken by a switch of key: what it brought, a token or a
 * refusal, is of the key the product no longer uses (storing it would put
 * the product back on a key MTN just refused).  It is dropped, unstored and
 * not counted as a failure, and f begins again with the key the product
 * uses now -- a few times at most: keys switching without end are a
 * failure.
 */
static FetchStep
fetch_restart(TokenFetch *f)
{
	int			restarts = f->restarts + 1;

	if (f->token)
		explicit_bzero(f->token, strlen(f->token));
	if (restarts > 4)
	{
		f->token = NULL;
		f->result = MOMO_TOKEN_TRANSIENT;
		f->error = pstrdup("the subscription key in use kept changing while a new token was fetched");
		return FETCH_FAILED;
	}
	fetch_begin(f, f->cfg);
	f->restarts = restarts;
	return FETCH_AGAIN;
}

/*
 * Finishes one try of f, whose request req is done (its credentials already
 * wiped): either a token, stored in the product's shared slot (with the key
 * it came with: a switch is logged), or another key to try, or a failure,
 * counted for momo_health.  A try overtaken by a switch of key is made
 * again (fetch_restart).  f->token and f->error are made in the current
 * memory context.
 */
static FetchStep
fetch_finish(TokenFetch *f, MomoHttpRequest *req)
{
	const MomoConfig *cfg = f->cfg;
	MomoTokenSlot *slot = &momo_shared->token[cfg->product];
	MomoTokenResult r;
	bool		overtaken;
	int			from;

	f->token = NULL;
	f->error = NULL;
	r = momo_answers_parse_token(req->status, req->response, req->response_len,
								 &f->token, &f->expires_in, &f->error);
	if (r == MOMO_TOKEN_TRANSIENT && req->status == 0)
		f->error = psprintf("token request failed: %s", momo_http_describe_failure(req));
	f->result = r;
	if (r != MOMO_TOKEN_OK)
	{
		LWLockAcquire(momo_shared->lock, LW_SHARED);
		overtaken = fetch_overtaken(f);
		LWLockRelease(momo_shared->lock);
		if (overtaken)
			return fetch_restart(f);

		if (f->retry_primary)
		{
			/* The primary again did not work: the secondary, as before. */
			f->retry_primary = false;
			f->key = 1;
			f->last_try = true;
			return FETCH_AGAIN;
		}
		if (!f->last_try && r == MOMO_TOKEN_KEY_REFUSED &&
			cfg->subscription_key[1 - f->key] != NULL)
		{
			f->key = 1 - f->key;
			f->fell_back = true;
			f->last_try = true;
			return FETCH_AGAIN;
		}

		/* For momo_health: since when no token comes. */
		LWLockAcquire(momo_shared->lock, LW_EXCLUSIVE);
		slot->failures++;
		if (slot->failed_at <= slot->obtained_at || slot->failed_hash != f->hash)
			slot->failed_since = f->started;
		slot->failed_at = f->started;
		slot->failed_hash = f->hash;
		LWLockRelease(momo_shared->lock);
		return FETCH_FAILED;
	}

	LWLockAcquire(momo_shared->lock, LW_EXCLUSIVE);
	if (fetch_overtaken(f))
	{
		LWLockRelease(momo_shared->lock);
		return fetch_restart(f);
	}
	from = set_slot_key(slot, f->hash, f->key);
	slot->expires_at = TimestampTzPlusMilliseconds(f->started, f->expires_in * 1000L);
	slot->refreshes++;
	slot->obtained_at = f->started;
	slot->token_refused = false;
	strlcpy(slot->token, f->token, sizeof(slot->token));
	LWLockRelease(momo_shared->lock);
	log_key_switch(cfg, from, f->key, f->fell_back);
	return FETCH_DONE;
}

/* The request of f's next try: it carries the API user and key. */
static MomoHttpRequest *
fetch_request(TokenFetch *f)
{
	return momo_protocol_token_request(f->cfg, f->key);
}

/* Wipes the API user and key a token request carried. */
static void
wipe_credentials(MomoHttpRequest *req)
{
	if (req->userpwd)
		explicit_bzero(req->userpwd, strlen(req->userpwd));
}

/* Runs a token request alone, and wipes its credentials, also after an ERROR. */
static void
perform_token_request(MomoHttpClient *client, const MomoConfig *cfg, MomoHttpRequest *req)
{
	PG_TRY();
	{
		momo_http_perform(client, cfg, req);
	}
	PG_FINALLY();
	{
		wipe_credentials(req);
	}
	PG_END_TRY();
}

/*
 * The worker's fetches of tokens in the background (momo_api_background_tokens):
 * at most one per product at a time, on the multi handle with the calls.
 * Each lives in a memory context of its own until it ends.
 */
typedef struct BackgroundFetch
{
	MemoryContext cxt;			/* NULL: no fetch of the product under way */
	TokenFetch	f;
	MomoHttpRequest *req;		/* its try in flight */
	TimestampTz next_at;		/* no new fetch before (see background_done) */
	MomoCall  **parked;			/* calls answered 401 that wait for its end
								 * (in TopMemoryContext) */
	int			nparked;
	int			maxparked;
} BackgroundFetch;

/* What momo_api_step drives the calls with. */
typedef struct StepState
{
	MomoHttpClient *client;
	int			max_in_flight;
	MomoAnswerFn fn;
	void	   *arg;
} StepState;

static void second_try(StepState *st, MomoCall *call);
static void no_second_try(StepState *st, MomoCall *call, const char *error);
static void give_back(StepState *st, MomoCall *call);

static bool background_tokens = false;
static MomoTokenDoneFn background_done_fn = NULL;
static MomoRepeatFn background_may_repeat_fn = NULL;
static BackgroundFetch background[MOMO_N_PRODUCTS];

/* Connections to MTN beyond max_in_flight, for the token fetches in the background. */
static int
token_connections(void)
{
	return background_tokens ? MOMO_N_PRODUCTS : 0;
}

/* Ends b's fetch: its request's credentials wiped, its memory freed. */
static void
background_end(BackgroundFetch *b)
{
	if (b->req)
		wipe_credentials(b->req);
	b->req = NULL;
	if (b->cxt)
		MemoryContextDelete(b->cxt);
	b->cxt = NULL;
}

/*
 * Parks call, answered 401 on its first try, until the fetch of a new token
 * of its product under way ends (see background_done).  Returns false when
 * no fetch is under way.
 */
static bool
park_call(MomoCall *call)
{
	BackgroundFetch *b = &background[call->cfg->product];

	if (b->cxt == NULL)
		return false;
	if (b->nparked == b->maxparked)
	{
		b->maxparked = Max(8, b->maxparked * 2);
		b->parked = b->parked ?
			repalloc(b->parked, sizeof(MomoCall *) * b->maxparked) :
			MemoryContextAlloc(TopMemoryContext, sizeof(MomoCall *) * b->maxparked);
	}
	b->parked[b->nparked++] = call;
	return true;
}

/* At the worker's exit: no API key stays in the memory of a fetch under way. */
static void
background_wipe_at_exit(int code pg_attribute_unused(), Datum arg pg_attribute_unused())
{
	for (int p = 0; p < MOMO_N_PRODUCTS; p++)
		if (background[p].req)
			wipe_credentials(background[p].req);
}

/*
 * Starts b's next try on client's multi handle.  If that fails, the fetch
 * ends (its request taken off the client) before the ERROR goes on: the
 * next use of the product's token starts another.
 */
static void
background_try(MomoHttpClient *client, BackgroundFetch *b, int max_in_flight)
{
	MemoryContext old = MemoryContextSwitchTo(b->cxt);

	PG_TRY();
	{
		b->req = fetch_request(&b->f);
		b->req->context = b;
		momo_http_start(client, b->f.cfg, b->req, max_in_flight + token_connections());
	}
	PG_CATCH();
	{
		MemoryContextSwitchTo(old);
		if (b->req)
			momo_http_cancel(client, b->req);
		background_end(b);
		PG_RE_THROW();
	}
	PG_END_TRY();
	MemoryContextSwitchTo(old);
}

/*
 * Starts a fetch of a new token for cfg's product in the background, unless
 * one is under way, or the last one ended less than a second
 * (momo.retry_base, if longer) ago.
 */
static void
background_start(MomoHttpClient *client, const MomoConfig *cfg, int max_in_flight)
{
	BackgroundFetch *b = &background[cfg->product];

	if (b->cxt != NULL || GetCurrentTimestamp() < b->next_at)
		return;
	b->cxt = AllocSetContextCreate(TopMemoryContext, "momo token fetch", ALLOCSET_SMALL_SIZES);
	fetch_begin(&b->f, cfg);
	background_try(client, b, max_in_flight);
}

/*
 * A try of a fetch in the background is done: the product's token is in
 * the shared slot, or another key is tried, or the fetch failed.  The
 * worker's function hears of each end (not of a try that is followed by
 * another), with momo_api_step's arg; then the calls parked for it
 * (answered 401) make their second try, or get their final answer.  A
 * fetch whose credentials changed meanwhile (a reload) is dropped, and
 * told as MOMO_TOKEN_PENDING: the next use of the token starts another.
 */
static void
background_done(StepState *st, BackgroundFetch *b, MomoHttpRequest *req)
{
	MomoHttpClient *client = st->client;
	int			max_in_flight = st->max_in_flight;
	MomoCall  **parked;
	int			nparked;
	const MomoConfig *cfg = b->f.cfg;
	MemoryContext old;
	MomoTokenResult r = MOMO_TOKEN_PENDING;
	char	   *error = NULL;
	FetchStep	step = FETCH_FAILED;

	wipe_credentials(req);
	momo_http_request_free(req);
	b->req = NULL;
	if (momo_settings_credentials_hash(cfg) == b->f.hash)
	{
		old = MemoryContextSwitchTo(b->cxt);
		step = fetch_finish(&b->f, req);
		MemoryContextSwitchTo(old);
		if (step == FETCH_AGAIN)
		{
			background_try(client, b, max_in_flight);
			return;
		}
		r = b->f.result;
		if (b->f.error)
			error = pstrdup(b->f.error);
		if (b->f.token)
			explicit_bzero(b->f.token, strlen(b->f.token));
	}

	/*
	 * However it ended, the next fetch of the product starts a second
	 * (momo.retry_base, if longer) later at the earliest: a token that is
	 * refused, or due for refresh, or expired as it comes never makes the
	 * worker ask for tokens in a loop.
	 */
	b->next_at = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), Max(momo_retry_base_ms, 1000));
	background_end(b);
	if (background_done_fn)
		background_done_fn(cfg, r, error, st->arg);

	/* The calls that waited for it: their second try, or their final answer. */
	parked = b->parked;
	nparked = b->nparked;
	b->parked = NULL;
	b->nparked = b->maxparked = 0;
	for (int i = 0; i < nparked; i++)
	{
		if (r == MOMO_TOKEN_OK || r == MOMO_TOKEN_PENDING)
			second_try(st, parked[i]);
		else
			no_second_try(st, parked[i], error);
	}
	if (parked)
		pfree(parked);
}

/*
 * From now on, in this process (the worker), momo_api_get_token never waits
 * for MTN: a token due for refresh is still handed out while a new one is
 * fetched in the background, on the multi handle with the calls; with no
 * valid token it starts that fetch and returns MOMO_TOKEN_PENDING.  fn hears
 * of each fetch's end (from momo_api_step, with its arg).  may_repeat is
 * asked before a call answered 401 is repeated, which may be long after it
 * was started (see second_try).
 */
void
momo_api_background_tokens(MomoTokenDoneFn fn, MomoRepeatFn may_repeat)
{
	if (!background_tokens)
		on_proc_exit(background_wipe_at_exit, (Datum) 0);
	background_tokens = true;
	background_done_fn = fn;
	background_may_repeat_fn = may_repeat;
}

/* Returns how many token fetches are under way in the background. */
int
momo_api_fetching_tokens(void)
{
	int			n = 0;

	for (int p = 0; p < MOMO_N_PRODUCTS; p++)
		if (background[p].cxt != NULL)
			n++;
	return n;
}

/*
 * Abandons every request in flight on client's multi handle (after an
 * ERROR), the token fetches in the background included (their credentials
 * wiped); see momo_http_abandon.
 */
void
momo_api_abandon(MomoHttpClient *client)
{
	momo_http_abandon(client);
	for (int p = 0; p < MOMO_N_PRODUCTS; p++)
	{
		background_end(&background[p]);
		background[p].nparked = 0;	/* the caller forgets its calls */
	}
}

/*
 * Returns an access token for cfg in *token and the subscription key index
 * it goes with in *key.  refused, when not NULL, is a token MTN just
 * refused: it is not handed out again.  A new token is fetched with the
 * key rules of TokenFetch, here and now (a backend may wait for it); in
 * the worker, in the background (see momo_api_background_tokens).
 */
MomoTokenResult
momo_api_get_token(MomoHttpClient *client, const MomoConfig *cfg, const char *refused,
				   char **token, int *key, char **error)
{
	TokenState	state;
	TokenFetch	f;
	FetchStep	step;
	MomoConfigProblem problem;

	*error = NULL;
	state = look_up_token(cfg, refused, token, key);
	if (state == TOKEN_FRESH)
		return MOMO_TOKEN_OK;

	/*
	 * No fetch starts with an incomplete configuration: the worker's may
	 * have lost its credentials in a reload since its calls were started or
	 * claimed (it resolves its configuration anew), and a token request
	 * would carry "(null)" for them.
	 */
	if (momo_settings_check(cfg, &problem))
	{
		if (state == TOKEN_DUE)
			return MOMO_TOKEN_OK;	/* valid meanwhile */
		if (!background_tokens)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("momo is not configured for %s: %s",
							momo_product_names[cfg->product], problem.message),
					 errdetail("Setting: %s.", problem.setting),
					 problem.hint ? errhint("%s", problem.hint) : 0));
		*error = problem.message;
		return MOMO_TOKEN_LOGIN_FAILED;
	}
	if (background_tokens)
	{
		background_start(client, cfg, momo_max_in_flight);
		if (state == TOKEN_DUE)
			return MOMO_TOKEN_OK;	/* valid meanwhile */
		*error = pstrdup("a new access token is being fetched");
		return MOMO_TOKEN_PENDING;
	}
	if (*token)
	{
		explicit_bzero(*token, strlen(*token));
		pfree(*token);
		*token = NULL;
	}

	fetch_begin(&f, cfg);
	do
	{
		MomoHttpRequest *req = fetch_request(&f);

		perform_token_request(client, cfg, req);
		step = fetch_finish(&f, req);
	} while (step == FETCH_AGAIN);
	if (step == FETCH_FAILED)
	{
		*error = f.error;
		return f.result;
	}
	*token = f.token;
	*key = f.key;
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
		slot->token_refused = false;	/* the key was: no token to replace */
		slot->key_switches++;	/* the fetches under way are overtaken */
	}
	LWLockRelease(momo_shared->lock);
	log_key_switch(cfg, from, other, true);
	return from != other;
}

/*
 * MTN refused token (401: expired or revoked) on a call of cfg's product:
 * if it is still the product's cached token, it is forgotten, so that no
 * other call is sent with it and the product waits for a new one (which,
 * for a product on its secondary key, is asked for with the primary first,
 * as for any token to replace: see fetch_begin).
 */
static void
forget_token(const MomoConfig *cfg, const char *token)
{
	uint32		hash = momo_settings_credentials_hash(cfg);
	MomoTokenSlot *slot = &momo_shared->token[cfg->product];

	if (token == NULL)
		return;
	LWLockAcquire(momo_shared->lock, LW_EXCLUSIVE);
	if (slot->credentials_hash == hash && slot->token[0] != '\0' && strcmp(slot->token, token) == 0)
	{
		explicit_bzero(slot->token, sizeof(slot->token));
		slot->token_refused = true;
	}
	LWLockRelease(momo_shared->lock);
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
		momo_http_start(client, cfg, req, max_in_flight + token_connections());
	}
	MemoryContextSwitchTo(old);
	return r;
}

/*
 * A finished request: its call's final answer goes to the caller, but a
 * first try answered 401 is made once more with a fresh token (with the
 * product's other subscription key if MTN refused the key): in the worker,
 * once the token fetched in the background comes (second_try).  A token
 * fetch of the worker's goes to background_done.
 */
static void
step_done(MomoHttpRequest *req, void *arg)
{
	StepState  *st = (StepState *) arg;
	MomoCall   *call;
	MemoryContext old;

	for (int p = 0; p < MOMO_N_PRODUCTS; p++)
	{
		if (background[p].req == req)
		{
			background_done(st, &background[p], req);
			return;
		}
	}
	call = (MomoCall *) req->context;
	old = MemoryContextSwitchTo(call->cxt);
	momo_protocol_classify(call->op, req, &call->answer);
	momo_http_request_free(req);
	MemoryContextSwitchTo(old);
	if (call->answer.verdict == MOMO_TOKEN_REFUSED)
		forget_token(call->cfg, call->token);
	if (call->refused == NULL &&
		(call->answer.verdict == MOMO_TOKEN_REFUSED || call->answer.verdict == MOMO_KEY_REFUSED))
	{
		if (call->answer.verdict == MOMO_KEY_REFUSED)
			switch_key(call->cfg, call->key);
		call->refused = call->token;
		second_try(st, call);
		return;
	}
	st->fn(call, &call->answer, st->arg);
}

/*
 * Starts the second try of call, answered 401 on its first, with a fresh
 * token; in the worker, a call whose token is on its way waits for it
 * (park_call), and one the worker may no longer send (its product was
 * paused meanwhile) is given back unsent.  Without a token, see
 * no_second_try.
 */
static void
second_try(StepState *st, MomoCall *call)
{
	MemoryContext old;
	char	   *error = NULL;
	MomoTokenResult r;

	if (background_tokens && background_may_repeat_fn &&
		!background_may_repeat_fn(call, st->arg))
	{
		give_back(st, call);
		return;
	}
	old = MemoryContextSwitchTo(call->cxt);
	r = momo_api_start(st->client, call, st->max_in_flight, &error);
	MemoryContextSwitchTo(old);
	if (r == MOMO_TOKEN_OK || (r == MOMO_TOKEN_PENDING && park_call(call)))
		return;
	no_second_try(st, call, error);
}

/*
 * Hands back call, answered 401 on its first try, unsent: MTN processed
 * nothing of it (the worker only: it is not recorded, and due again).
 */
static void
give_back(StepState *st, MomoCall *call)
{
	call->answer.given_back = true;
	st->fn(call, &call->answer, st->arg);
}

/*
 * Hands the final answer of call, answered 401 on its first try, whose
 * second try got no token (error: why).  A 401 means MTN processed nothing:
 * the call is not counted as sent.  The worker gives it back (its product
 * waits for a token, see look_up_token); elsewhere it is to be tried again
 * later, unsent.
 */
static void
no_second_try(StepState *st, MomoCall *call, const char *error)
{
	MemoryContext old;

	if (background_tokens)
	{
		give_back(st, call);
		return;
	}
	old = MemoryContextSwitchTo(call->cxt);
	call->answer.error = psprintf("%s; then no new access token: %s",
								  call->answer.error ? call->answer.error : "HTTP 401",
								  error ? error : "unknown");
	call->answer.verdict = MOMO_RETRY;
	call->answer.not_sent = true;
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
 * Refuses, before anything is sent, a backend's exchange with MTN in a
 * read-only transaction (on a standby too): momo records every exchange
 * (momo_events, the payment it concerns), and could record nothing there,
 * after MTN had acted.
 */
void
momo_api_require_read_write(void)
{
	if (XactReadOnly && !momo_in_worker)
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("momo cannot ask MTN in a read-only transaction"),
				 errdetail("momo records every exchange with MTN; nothing was sent."),
				 errhint(RecoveryInProgress() ?
						 "Call it on the primary server." :
						 "Call it in a read-write transaction.")));
}

/*
 * Makes one product call (GET, or POST with an optional body, JSON unless
 * headers give its Content-Type, and the
 * extra headers of headers: name, value, name, value, ..., NULL; or none if
 * headers is NULL) with the product's access token, repeating it once with
 * a fresh token after a 401, and returns the finished request.  Raises an
 * ERROR when no token can be had.
 */
MomoHttpRequest *
momo_api_call(MomoHttpClient *client, const MomoConfig *cfg, bool post, const char *path,
			  const char *body, const char *const *headers)
{
	return momo_api_call_method(client, cfg, post ? "POST" : "GET", path, body, headers);
}

/*
 * momo_api_call with another method than GET or POST (DELETE): it is sent
 * with body as a POST's would be.
 */
MomoHttpRequest *
momo_api_call_method(MomoHttpClient *client, const MomoConfig *cfg, const char *method,
					 const char *path, const char *body, const char *const *headers)
{
	bool		post = strcmp(method, "GET") != 0;
	MomoHttpRequest *req = NULL;
	char	   *refused = NULL;

	momo_api_require_read_write();

	for (int pass = 0; pass < 2; pass++)
	{
		char	   *token;
		char	   *error;
		int			key;
		MomoTokenResult r;
		bool		typed;		/* headers give the body's Content-Type */

		r = momo_api_get_token(client, cfg, refused, &token, &key, &error);
		if (r != MOMO_TOKEN_OK)
			momo_api_raise_token_error(cfg, r, error);
		typed = false;
		for (int h = 0; headers && headers[h]; h += 2)
			typed |= pg_strcasecmp(headers[h], "Content-Type") == 0;
		req = momo_protocol_call(cfg, key, token, post, path);
		if (strcmp(method, "GET") != 0 && strcmp(method, "POST") != 0)
			req->method = method;
		if (body)
		{
			req->body = pstrdup(body);
			if (!typed)
				momo_http_header(req, "Content-Type", "application/json");
		}
		for (int h = 0; headers && headers[h]; h += 2)
			momo_http_header(req, headers[h], headers[h + 1]);
		momo_events_sending();
		momo_http_perform(client, cfg, req);
		if (req->status != 401)
			break;
		momo_events_not_acted();
		if (pass == 0 && req->response_len > 0 && strstr(req->response, "subscription key"))
			switch_key(cfg, key);
		else
			forget_token(cfg, token);
		refused = token;
	}
	return req;
}
