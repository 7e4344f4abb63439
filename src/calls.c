/*-------------------------------------------------------------------------
 *
 * calls.c
 *	  SQL functions that ask MTN something and wait for the answer: the
 *	  balance of a product's account, whether an account holder is active,
 *	  an account holder's basic information, an account holder's information
 *	  with their consent (the consent flow), a delivery notification to the
 *	  payer of a request to pay, and (sandbox only) provisioning an API user
 *	  and key.  Each exchange is logged in momo_events; failures are ERRORs
 *	  that say what MTN answered.  Also the Provisioning API's record of an
 *	  API user, for momo_preflight (momo_calls_registered_callback_host).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "miscadmin.h"
#include "portability/instr_time.h"
#include "storage/latch.h"
#include "utils/builtins.h"
#include "common/jsonapi.h"
#include "utils/json.h"
#include "utils/jsonfuncs.h"
#include "utils/numeric.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "api.h"
#include "events.h"
#include "calls.h"
#include "json.h"
#include "lifecycle.h"
#include "momo.h"
#include "owner.h"
#include "protocol.h"
#include "spi_util.h"
#include "settings.h"
#include "store.h"
#include "validate.h"

PG_FUNCTION_INFO_V1(momo_balance);
PG_FUNCTION_INFO_V1(momo_account_holder_active);
PG_FUNCTION_INFO_V1(momo_account_holder_info);
PG_FUNCTION_INFO_V1(momo_user_info_with_consent);
PG_FUNCTION_INFO_V1(momo_delivery_notification);
PG_FUNCTION_INFO_V1(momo_sandbox_provision);
PG_FUNCTION_INFO_V1(momo_approved_preapprovals);
PG_FUNCTION_INFO_V1(momo_cancel_preapproval);

/* Logs a finished call in momo_events, in the schema of the called function. */
static void
log_call(FunctionCallInfo fcinfo, const MomoConfig *cfg, const char *reference_id,
		 const char *operation, const MomoHttpRequest *req, bool ok)
{
	MomoActing a;

	momo_owner_enter(fcinfo, &a);
	momo_events_log_call(a.schema, reference_id, momo_product_names[cfg->product], operation,
						 (int) req->status, ok ? "ok" : (req->status == 0 ? "retry" : "error"),
						 NULL, req->elapsed * 1000.0,
						 req->status == 0 ? momo_http_describe_failure(req) : NULL);
	momo_owner_leave(&a);
}

/* Raises the ERROR for a call MTN did not answer as hoped. */
static void
raise_call_failure(const MomoConfig *cfg, const char *what, const MomoHttpRequest *req)
{
	MomoJsonField f[] = {{.path = "code"}, {.path = "message"}};

	if (req->status == 0)
		ereport(ERROR,
				(errcode(ERRCODE_CONNECTION_FAILURE),
				 errmsg("MTN did not answer %s", what),
				 errdetail("%s", momo_http_describe_failure(req)),
				 errhint("Check momo.base_url and the network path to MTN; the call can be repeated.")));
	if (req->response_len > 0 &&
		momo_json_extract(req->response, req->response_len, f, lengthof(f)) == NULL &&
		f[0].value)
	{
		/* MTN answered: a refusal of its kind, never a connection failure, unless a retry may cure it. */
		static const int sqlstates[] = {
			[MOMO_REFUSED_CONFIGURATION] = ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE,
			[MOMO_REFUSED_NOT_ALLOWED] = ERRCODE_INSUFFICIENT_PRIVILEGE,
			[MOMO_REFUSED_NOT_FOUND] = ERRCODE_NO_DATA_FOUND,
			[MOMO_REFUSED_VALUE] = ERRCODE_INVALID_PARAMETER_VALUE,
			[MOMO_REFUSED_TRANSIENT] = ERRCODE_CONNECTION_FAILURE,
		};
		MomoRefusal kind = momo_answers_refusal(f[0].value);
		char	   *message = f[1].value;
		size_t		len = message ? strlen(message) : 0;

		/* MTN's message is a sentence already: no second period. */
		if (len > 0 && message[len - 1] == '.')
			message[len - 1] = '\0';
		ereport(ERROR,
				(errcode(kind == MOMO_REFUSED_TRANSIENT && req->status < 500 ?
						 ERRCODE_INVALID_PARAMETER_VALUE : sqlstates[kind]),
				 errmsg("MTN refused %s: %s", what, f[0].value),
				 errdetail("HTTP %ld%s%s.", req->status, message ? ": " : "", message ? message : ""),
				 kind == MOMO_REFUSED_CONFIGURATION ?
				 errhint("Check momo.target_environment and the callback host registered for the %s API user (momo_preflight()).",
						 momo_product_names[cfg->product]) : 0));
	}
	ereport(ERROR,
			(errcode(req->status >= 500 ? ERRCODE_CONNECTION_FAILURE : ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("MTN answered %s with HTTP %ld", what, req->status),
			 req->status == 401 ?
			 errhint("Check the %s credentials.", momo_product_names[cfg->product]) : 0));
}

/* raise_call_failure, for the calls of other files (momo_cancel_invoice). */
void
momo_calls_raise_failure(const MomoConfig *cfg, const char *what, const MomoHttpRequest *req)
{
	raise_call_failure(cfg, what, req);
	pg_unreachable();
}

/* Parses a 200 answer's fields, raising an ERROR if the body is unusable. */
static void
parse_answer(const char *what, const MomoHttpRequest *req, MomoJsonField *fields, int n)
{
	char	   *err = momo_json_extract(req->response, req->response_len, fields, n);

	if (err)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("MTN's answer to %s is unreadable", what),
				 errdetail("%s", err)));
}

/*
 * Takes a GET from the budget momo.status_checks_per_second shares with the
 * worker and every backend: MTN counts balance and account holder requests
 * with status checks.
 */
static void
charge_status_budget(const char *what)
{
	if (!momo_wait_status_check())
		ereport(ERROR,
				(errcode(ERRCODE_CONFIGURATION_LIMIT_EXCEEDED),
				 errmsg("%s was not sent: momo.status_checks_per_second is used up", what),
				 errdetail("MTN limits these requests together with status checks; nothing was asked."),
				 errhint("Try again in a second.")));
}

/*
 * momo_balance(product) and momo_balance(product, currency): the available
 * balance of the product's account, now; in the given currency when one is
 * given (GET /v1_0/account/balance/{currency}: an account may hold several).
 */
Datum
momo_balance(PG_FUNCTION_ARGS)
{
	MomoConfig	cfg;
	MomoHttpRequest *req;
	MomoJsonField f[] = {{.path = "availableBalance"}, {.path = "currency"}};
	TupleDesc	desc;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	char	   *currency = NULL;

	momo_require_preload();
	momo_settings_require(&cfg, momo_validate_product(fcinfo, 0));
	if (PG_NARGS() > 1)
		currency = momo_validate_currency(fcinfo, 1, &cfg);
	charge_status_budget("the balance request");
	req = momo_api_call(momo_http_client(), &cfg, false,
						currency ? psprintf("v1_0/account/balance/%s", currency) : "v1_0/account/balance",
						NULL, NULL);
	log_call(fcinfo, &cfg, NULL, "balance", req, req->status == 200);
	if (req->status != 200)
		raise_call_failure(&cfg, "the balance request", req);
	parse_answer("the balance request", req, f, lengthof(f));
	if (f[0].value == NULL || f[1].value == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("MTN's balance answer lacks availableBalance or currency")));
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "momo_balance must return a record");
	values[0] = DirectFunctionCall3(numeric_in, CStringGetDatum(f[0].value),
									ObjectIdGetDatum(InvalidOid), Int32GetDatum(-1));
	values[1] = CStringGetTextDatum(f[1].value);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

/*
 * The id types MTN takes, per product (collection, disbursement,
 * remittance), of an account holder's check (accountHolderIdType msisdn,
 * email, and party_code in the Swagger 2.0 definitions of all three) and
 * of its basic information (MSISDN or Email in Collection's definition;
 * Disbursement's lists the same path; Remittance's has msisdn only in its
 * path).
 */
#define ID_BIT(t) (1u << (t))
static const unsigned active_id_types[MOMO_N_PRODUCTS] = {
	ID_BIT(MOMO_ID_MSISDN) | ID_BIT(MOMO_ID_EMAIL) | ID_BIT(MOMO_ID_PARTY_CODE),
	ID_BIT(MOMO_ID_MSISDN) | ID_BIT(MOMO_ID_EMAIL) | ID_BIT(MOMO_ID_PARTY_CODE),
	ID_BIT(MOMO_ID_MSISDN) | ID_BIT(MOMO_ID_EMAIL) | ID_BIT(MOMO_ID_PARTY_CODE),
};
static const unsigned info_id_types[MOMO_N_PRODUCTS] = {
	ID_BIT(MOMO_ID_MSISDN) | ID_BIT(MOMO_ID_EMAIL),
	ID_BIT(MOMO_ID_MSISDN) | ID_BIT(MOMO_ID_EMAIL),
	ID_BIT(MOMO_ID_MSISDN),
};

/* The path of an account holder question: v1_0/accountholder/{type}/{id}/{what}. */
static char *
holder_path(MomoIdType type, const char *id, const char *what)
{
	return psprintf("v1_0/accountholder/%s/%s/%s", momo_id_type_names[type],
					momo_protocol_path_segment(id), what);
}

/*
 * momo_account_holder_active(msisdn, product, id_type): whether MTN knows
 * the account holder (an msisdn, an email or a party code, as id_type says)
 * as an active account.
 */
Datum
momo_account_holder_active(PG_FUNCTION_ARGS)
{
	MomoConfig	cfg;
	MomoHttpRequest *req;
	MomoJsonField f[] = {{.path = "result"}};
	MomoProduct product;
	MomoIdType	type;
	MomoActing	a;
	char	   *id = momo_validate_account_holder(fcinfo, 1, 2, active_id_types, "MTN's account holder check",
												  &product, &type);

	momo_require_preload();
	momo_settings_require(&cfg, product);
	/* Nothing is asked where momo would refuse to log it (inside the worker, an unsafe table). */
	momo_owner_enter(fcinfo, &a);
	momo_owner_leave(&a);
	charge_status_budget("the account holder check");
	req = momo_api_call(momo_http_client(), &cfg, false, holder_path(type, id, "active"), NULL, NULL);
	log_call(fcinfo, &cfg, NULL, "account_holder_active", req,
			 req->status == 200 || req->status == 404);
	/* An account holder MTN does not know is not active. */
	if (req->status == 404)
		PG_RETURN_BOOL(false);
	if (req->status != 200)
		raise_call_failure(&cfg, "the account holder check", req);
	parse_answer("the account holder check", req, f, lengthof(f));
	if (f[0].value == NULL || f[0].is_string ||
		(strcmp(f[0].value, "true") != 0 && strcmp(f[0].value, "false") != 0))
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("MTN's account holder answer has no boolean result")));
	PG_RETURN_BOOL(strcmp(f[0].value, "true") == 0);
}

/*
 * momo_account_holder_info(msisdn, product, id_type): MTN's basic
 * information on an account holder (an msisdn, or an email where MTN takes
 * one).
 */
Datum
momo_account_holder_info(PG_FUNCTION_ARGS)
{
	static const char *const names[6] = {
		"given_name", "family_name", "birthdate", "locale", "gender", "status"
	};
	MomoJsonField f[6];
	MomoConfig	cfg;
	MomoHttpRequest *req;
	TupleDesc	desc;
	Datum		values[6];
	bool		nulls[6];
	MomoProduct product;
	MomoIdType	type;
	MomoActing	a;
	char	   *id = momo_validate_account_holder(fcinfo, 1, 2, info_id_types,
												  "MTN's basic user information",
												  &product, &type);

	momo_require_preload();
	momo_settings_require(&cfg, product);
	/* Nothing is asked where momo would refuse to log it (inside the worker, an unsafe table). */
	momo_owner_enter(fcinfo, &a);
	momo_owner_leave(&a);
	charge_status_budget("the account holder information request");
	req = momo_api_call(momo_http_client(), &cfg, false, holder_path(type, id, "basicuserinfo"), NULL, NULL);
	log_call(fcinfo, &cfg, NULL, "account_holder_info", req, req->status == 200);
	if (req->status == 404)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("MTN knows no account holder with %s %s", momo_id_type_names[type], id)));
	if (req->status != 200)
		raise_call_failure(&cfg, "the account holder information request", req);
	memset(f, 0, sizeof(f));
	for (int i = 0; i < 6; i++)
		f[i].path = names[i];
	parse_answer("the account holder information request", req, f, lengthof(f));
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "momo_account_holder_info must return a record");
	for (int i = 0; i < 6; i++)
	{
		nulls[i] = (f[i].value == NULL);
		values[i] = nulls[i] ? (Datum) 0 :
			CStringGetTextDatum(pg_any_to_server(f[i].value, strlen(f[i].value), PG_UTF8));
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

/*
 * The consent flow, as MTN defines it for every product (OpenID CIBA): POST
 * /{product}/v1_0/bc-authorize asks the account holder, on their phone, to
 * consent to a scope and answers an auth_req_id; POST
 * /{product}/oauth2/token/ with it, polled at the interval MTN asks for,
 * answers 400 authorization_pending until they decide, then an OAuth2 token
 * (or access_denied, expired_token); GET /{product}/oauth2/v1_0/userinfo
 * with that token answers what they consented to show.
 *
 * The OAuth2 token (and the refresh token MTN sends along) is a secret: it
 * lives in this function's memory only, is wiped as soon as the userinfo
 * request is built (also after an ERROR), and is never logged, stored,
 * raised or shown.  momo asks for "online" access and keeps no refresh
 * token: each call is a new consent.
 */

/* momo_user_info_with_consent's columns: MTN's consentkycResponse members. */
typedef enum ConsentKind
{
	CONSENT_TEXT,
	CONSENT_BOOL,
	CONSENT_TIME				/* seconds since the epoch, as timestamptz */
} ConsentKind;

static const struct
{
	const char *name;
	ConsentKind kind;
}			consent_columns[] =
{
	{"sub", CONSENT_TEXT},
	{"name", CONSENT_TEXT},
	{"given_name", CONSENT_TEXT},
	{"family_name", CONSENT_TEXT},
	{"middle_name", CONSENT_TEXT},
	{"email", CONSENT_TEXT},
	{"email_verified", CONSENT_BOOL},
	{"gender", CONSENT_TEXT},
	{"locale", CONSENT_TEXT},
	{"phone_number", CONSENT_TEXT},
	{"phone_number_verified", CONSENT_BOOL},
	{"address", CONSENT_TEXT},
	{"updated_at", CONSENT_TIME},
	{"status", CONSENT_TEXT},
	{"birthdate", CONSENT_TEXT},
	{"credit_score", CONSENT_TEXT},
	{"active", CONSENT_BOOL},
	{"country_of_birth", CONSENT_TEXT},
	{"region_of_birth", CONSENT_TEXT},
	{"city_of_birth", CONSENT_TEXT},
	{"occupation", CONSENT_TEXT},
	{"employer_name", CONSENT_TEXT},
	{"identification_type", CONSENT_TEXT},
	{"identification_value", CONSENT_TEXT},
};

#define N_CONSENT_COLUMNS lengthof(consent_columns)

/* Longest auth_req_id momo accepts from MTN. */
#define MAX_AUTH_REQ_ID 256

/*
 * The CIBA error code of an answer ({"error": "..."}), if it has one that
 * reads as such a code (lower-case letters and underscores, at most 64):
 * fit for momo_events.  NULL otherwise.
 */
static char *
consent_error_code(const MomoHttpRequest *req)
{
	MomoJsonField f[] = {{.path = "error"}};

	if (req->status == 0 || req->status == 200 || req->response_len == 0 ||
		momo_json_extract(req->response, req->response_len, f, lengthof(f)) != NULL ||
		f[0].value == NULL || !f[0].is_string || f[0].value[0] == '\0' || strlen(f[0].value) > 64 ||
		strspn(f[0].value, "abcdefghijklmnopqrstuvwxyz_") != strlen(f[0].value))
		return NULL;
	return f[0].value;
}

/* Logs an exchange of the consent flow in momo_events: its outcome and CIBA error code. */
static void
log_consent(FunctionCallInfo fcinfo, const MomoConfig *cfg, const char *operation,
			const MomoHttpRequest *req, const char *outcome, const char *code)
{
	MomoActing a;

	momo_owner_enter(fcinfo, &a);
	momo_events_log_call(a.schema, NULL, momo_product_names[cfg->product], operation,
						 (int) req->status, outcome, code, req->elapsed * 1000.0,
						 req->status == 0 ? momo_http_describe_failure(req) : NULL);
	momo_owner_leave(&a);
}

/*
 * Raises the ERROR for a step of the consent flow MTN did not answer as
 * hoped: an account holder MTN does not know, a CIBA error, or as
 * raise_call_failure says.
 */
static void
raise_consent_failure(const MomoConfig *cfg, const char *msisdn, const char *what,
					  const MomoHttpRequest *req)
{
	MomoJsonField f[] = {{.path = "error"}, {.path = "error_description"}};

	if (req->status != 0 && req->response_len > 0 &&
		momo_json_extract(req->response, req->response_len, f, lengthof(f)) == NULL &&
		f[0].value && f[0].is_string)
	{
		if (strcmp(f[0].value, "unknown_user_id") == 0)
			ereport(ERROR,
					(errcode(ERRCODE_NO_DATA_FOUND),
					 errmsg("MTN knows no account holder with msisdn %s", msisdn)));
		ereport(ERROR,
				(errcode(req->status >= 500 ? ERRCODE_CONNECTION_FAILURE : ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("MTN refused %s: %s", what, f[0].value),
				 errdetail("HTTP %ld%s%s.", req->status, f[1].value ? ": " : "", f[1].value ? f[1].value : "")));
	}
	if (req->status == 404)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("MTN knows no account holder with msisdn %s", msisdn)));
	raise_call_failure(cfg, what, req);
}

/* Sleeps ms milliseconds on the latch; an interrupt (a cancel, statement_timeout) ends it. */
static void
consent_sleep(long ms)
{
	instr_time	start;

	INSTR_TIME_SET_CURRENT(start);
	for (;;)
	{
		instr_time	now;
		long		left;

		CHECK_FOR_INTERRUPTS();
		INSTR_TIME_SET_CURRENT(now);
		INSTR_TIME_SUBTRACT(now, start);
		left = ms - (long) INSTR_TIME_GET_MILLISEC(now);
		if (left <= 0)
			break;
		(void) WaitLatch(MyLatch, WL_LATCH_SET | WL_TIMEOUT | WL_EXIT_ON_PM_DEATH, left,
						 momo_wait_event(MOMO_WAIT_CONSENT));
		ResetLatch(MyLatch);
	}
}

/* Milliseconds since started. */
static long
ms_since(instr_time started)
{
	instr_time	now;

	INSTR_TIME_SET_CURRENT(now);
	INSTR_TIME_SUBTRACT(now, started);
	return (long) INSTR_TIME_GET_MILLISEC(now);
}

/* Polls the OAuth2 token endpoint once for auth_req_id; wipes the API key it carried. */
static MomoHttpRequest *
consent_poll(const MomoConfig *cfg, int key, const char *auth_req_id)
{
	MomoHttpRequest *req = momo_protocol_consent_token_request(cfg, key, auth_req_id);

	PG_TRY();
	{
		momo_http_perform(momo_http_client(), cfg, req);
	}
	PG_FINALLY();
	{
		explicit_bzero(req->userpwd, strlen(req->userpwd));
	}
	PG_END_TRY();
	return req;
}

/*
 * Takes the OAuth2 access token out of a 200 answer of the token endpoint,
 * into a palloc'd copy, and wipes it (and the refresh token) from the
 * answer.  Raises an ERROR that quotes neither when the answer has none fit
 * for a header.  (Not inlined: its locals need not survive the PG_TRY of
 * its caller.)
 */
static pg_noinline char *
consent_take_token(MomoHttpRequest *req)
{
	MomoJsonField f[] = {{.path = "access_token"}, {.path = "refresh_token"}};
	char	   *err = momo_json_extract(req->response, req->response_len, f, lengthof(f));
	char	   *token = NULL;
	bool		usable;

	usable = (err == NULL && f[0].value != NULL && f[0].is_string && f[0].value[0] != '\0' &&
			  strlen(f[0].value) < MOMO_MAX_TOKEN_LEN);
	for (const char *c = usable ? f[0].value : ""; *c; c++)
		if ((unsigned char) *c < 0x21 || (unsigned char) *c >= 0x7f)
			usable = false;
	if (usable)
		token = pstrdup(f[0].value);
	for (int i = 0; i < (int) lengthof(f); i++)
		if (f[i].value)
			explicit_bzero(f[i].value, strlen(f[i].value));
	explicit_bzero(req->response, req->response_len);
	if (!usable)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("MTN's answer to the consent token request has no usable access_token")));
	return token;
}

/* The value of a member of MTN's userinfo answer as its column's type. */
static Datum
consent_value(int i, const MomoJsonField *f, bool *isnull)
{
	const char *v = f->value;

	*isnull = (v == NULL);
	if (v == NULL)
		return (Datum) 0;
	switch (consent_columns[i].kind)
	{
		case CONSENT_BOOL:
			if (strcmp(v, "true") == 0 || strcmp(v, "false") == 0)
				return BoolGetDatum(strcmp(v, "true") == 0);
			break;
		case CONSENT_TIME:
			if (!f->is_string && strspn(v, "0123456789") == strlen(v) && strlen(v) <= 12)
				return DirectFunctionCall1(float8_timestamptz, Float8GetDatum(strtod(v, NULL)));
			break;
		case CONSENT_TEXT:
			return CStringGetTextDatum(pg_any_to_server(v, strlen(v), PG_UTF8));
	}
	ereport(ERROR,
			(errcode(ERRCODE_PROTOCOL_VIOLATION),
			 errmsg("MTN's user information has an unreadable %s", consent_columns[i].name)));
	return (Datum) 0;			/* keep the compiler quiet */
}

/*
 * momo_user_info_with_consent(msisdn, scope, product, timeout): asks the
 * account holder msisdn to consent to scope, waits for their answer (at
 * most timeout, and no longer than MTN keeps the request), and returns what
 * MTN shows with that consent.  Refusal, expiry and timeout are ERRORs.
 */
Datum
momo_user_info_with_consent(PG_FUNCTION_ARGS)
{
	const char *const form[] = {"Content-Type", "application/x-www-form-urlencoded", NULL};
	MomoJsonField af[] = {{.path = "auth_req_id"}, {.path = "interval"}, {.path = "expires_in"}};
	MomoJsonField uf[N_CONSENT_COLUMNS];
	MomoConfig	cfg;
	MomoProduct product;
	MomoHttpRequest *req;
	MomoHttpRequest *volatile user_req = NULL;
	TupleDesc	desc;
	Datum		values[N_CONSENT_COLUMNS];
	bool		nulls[N_CONSENT_COLUMNS];
	char	   *scope;
	char	   *auth_req_id;
	char	   *token = NULL;
	char	   *error;
	char	   *access;
	long		timeout_ms;
	long		deadline_ms;
	long		interval_ms = 5000; /* CIBA's default */
	int			key;
	MomoTokenResult r;
	instr_time	started;
	char	   *msisdn = momo_validate_consent(fcinfo, &scope, &product, &timeout_ms);
	MomoActing	a;

	momo_require_preload();
	momo_settings_require(&cfg, product);
	momo_api_require_read_write();
	/* Nothing is asked where momo would refuse to log it (inside the worker, an unsafe table). */
	momo_owner_enter(fcinfo, &a);
	momo_owner_leave(&a);
	INSTR_TIME_SET_CURRENT(started);

	/* 1. bc-authorize, with the product's access token */
	momo_events_expect_call(NULL, momo_product_names[cfg.product], "consent_request");
	req = momo_api_call(momo_http_client(), &cfg, true, "v1_0/bc-authorize",
						momo_protocol_bc_authorize_body(msisdn, scope), form);
	log_consent(fcinfo, &cfg, "consent_request", req,
				req->status == 200 ? "ok" : (req->status == 0 ? "retry" : "error"),
				consent_error_code(req));
	if (req->status != 200)
		raise_consent_failure(&cfg, msisdn, "the consent request", req);
	parse_answer("the consent request", req, af, lengthof(af));
	auth_req_id = af[0].value;
	if (auth_req_id == NULL || !af[0].is_string || auth_req_id[0] == '\0' ||
		strlen(auth_req_id) > MAX_AUTH_REQ_ID)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("MTN's answer to the consent request has no usable auth_req_id")));
	/* MTN's interval, at least a second (its example says 0), at most a minute */
	if (af[1].value && !af[1].is_string)
		interval_ms = (long) Max(1000.0, Min(60000.0, strtod(af[1].value, NULL) * 1000.0));
	deadline_ms = timeout_ms;
	if (af[2].value && !af[2].is_string && strtod(af[2].value, NULL) > 0)
		deadline_ms = (long) Min((double) timeout_ms, strtod(af[2].value, NULL) * 1000.0);

	/* The subscription key the product uses now (the token itself is not needed). */
	r = momo_api_get_token(momo_http_client(), &cfg, NULL, &access, &key, &error);
	if (r != MOMO_TOKEN_OK)
		momo_api_raise_token_error(&cfg, r, error);
	explicit_bzero(access, strlen(access));

	/* 2. the OAuth2 token, polled at MTN's interval until the account holder decides */
	for (int polls = 0; token == NULL; polls++)
	{
		char	   *code;
		long		wait_ms = interval_ms;

		/*
		 * No poll after the deadline; but the request is on the phone now,
		 * so it is asked about once at least, at the deadline if that comes
		 * before MTN's interval.
		 */
		if (polls == 0 && ms_since(started) + interval_ms > deadline_ms)
			wait_ms = Max(0, deadline_ms - ms_since(started));
		else if (ms_since(started) + interval_ms > deadline_ms)
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("account holder %s did not answer the consent request in time", msisdn),
					 errdetail(deadline_ms < timeout_ms ?
							   "MTN keeps the request for %s seconds only." :
							   "No answer came within the timeout of %s seconds.",
							   deadline_ms % 1000 == 0 ? psprintf("%ld", deadline_ms / 1000) :
							   psprintf("%.3f", deadline_ms / 1000.0)),
					 errhint("Ask again, and let the account holder know a request is on their phone.")));
		consent_sleep(wait_ms);
		req = consent_poll(&cfg, key, auth_req_id);
		code = consent_error_code(req);
		if (req->status == 200)
		{
			log_consent(fcinfo, &cfg, "consent_token", req, "ok", NULL);
			token = consent_take_token(req);
			break;
		}
		if (code && strcmp(code, "authorization_pending") == 0)
		{
			log_consent(fcinfo, &cfg, "consent_token", req, "pending", code);
			continue;
		}
		if (code && strcmp(code, "slow_down") == 0)
		{
			/* CIBA: poll 5 seconds less often from now on */
			log_consent(fcinfo, &cfg, "consent_token", req, "pending", code);
			interval_ms = Min(interval_ms + 5000, 60000);
			continue;
		}
		if (code && strcmp(code, "access_denied") == 0)
		{
			log_consent(fcinfo, &cfg, "consent_token", req, "refused", code);
			ereport(ERROR,
					(errcode(ERRCODE_INSUFFICIENT_PRIVILEGE),
					 errmsg("account holder %s refused consent to scope \"%s\"", msisdn, scope)));
		}
		if (code && strcmp(code, "expired_token") == 0)
		{
			log_consent(fcinfo, &cfg, "consent_token", req, "expired", code);
			ereport(ERROR,
					(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
					 errmsg("account holder %s did not answer the consent request in time", msisdn),
					 errdetail("MTN says the request expired."),
					 errhint("Ask again, and let the account holder know a request is on their phone.")));
		}
		/* No answer, or a server error: asked again at the next interval. */
		if (req->status == 0 || (req->status >= 500 && code == NULL))
		{
			log_consent(fcinfo, &cfg, "consent_token", req, "retry", code);
			continue;
		}
		log_consent(fcinfo, &cfg, "consent_token", req, "error", code);
		if (req->status == 401 || (code && strcmp(code, "login_failed") == 0))
			momo_api_raise_token_error(&cfg, MOMO_TOKEN_LOGIN_FAILED,
									   "the consent token request was refused");
		raise_consent_failure(&cfg, msisdn, "the consent token request", req);
	}

	/* 3. userinfo, with the OAuth2 token, which is wiped as soon as it is in the request */
	PG_TRY();
	{
		charge_status_budget("the user information request");
		user_req = momo_protocol_call(&cfg, key, token, false, "oauth2/v1_0/userinfo");
	}
	PG_FINALLY();
	{
		explicit_bzero(token, strlen(token));
	}
	PG_END_TRY();
	req = user_req;
	momo_http_perform(momo_http_client(), &cfg, req);
	log_consent(fcinfo, &cfg, "consent_user_info", req,
				req->status == 200 ? "ok" : (req->status == 0 ? "retry" : "error"), consent_error_code(req));
	if (req->status != 200)
		raise_consent_failure(&cfg, msisdn, "the user information request", req);
	memset(uf, 0, sizeof(uf));
	for (int i = 0; i < (int) N_CONSENT_COLUMNS; i++)
		uf[i].path = consent_columns[i].name;
	parse_answer("the user information request", req, uf, lengthof(uf));
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE || desc->natts != N_CONSENT_COLUMNS)
		elog(ERROR, "momo_user_info_with_consent must return a record of %d columns", (int) N_CONSENT_COLUMNS);
	for (int i = 0; i < (int) N_CONSENT_COLUMNS; i++)
		values[i] = consent_value(i, &uf[i], &nulls[i]);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

/*
 * momo_delivery_notification(reference_id, message [, language]): asks MTN
 * to send the payer of a request to pay a notification; in the language
 * given (MTN's Language header: the template it picks), if one is.
 */
Datum
momo_delivery_notification(PG_FUNCTION_ARGS)
{
	char	   *ref;
	char	   *message;
	char	   *language = NULL;
	const char *headers[5];
	MomoActing a;
	MomoConfig	cfg;
	MomoPayment p;
	MomoHttpRequest *req;
	StringInfoData body;
	char	   *utf8;

	momo_validate_require_arg(fcinfo, 0, "reference_id");
	ref = DatumGetCString(DirectFunctionCall1(uuid_out, PG_GETARG_DATUM(0)));
	message = momo_validate_message(fcinfo, 1, "message");
	if (PG_NARGS() > 2 && !PG_ARGISNULL(2))
		language = momo_validate_language(fcinfo, 2);
	momo_require_preload();
	momo_settings_require(&cfg, MOMO_COLLECTION);

	momo_owner_enter(fcinfo, &a);
	/* A caller who may not see the payment learns nothing about it. */
	if (!momo_store_caller_sees(a.schema, a.caller, ref) || !momo_store_fetch(a.schema, ref, &p))
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("no payment has reference_id %s", ref)));
	momo_owner_leave(&a);
	if (p.terms.operation != MOMO_REQUEST_TO_PAY)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("payment %s is not a request to pay; only its payer can be notified", ref)));
	/* MTN notifies only the payer of a successful one (409 otherwise). */
	if (p.status != MOMO_STATUS_SUCCESSFUL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("payment %s is %s; only the payer of a successful payment can be notified",
						ref, momo_status_names[p.status]),
				 p.status == MOMO_STATUS_FAILED ? 0 :
				 errhint("Wait until it is successful, e.g. with momo_await.")));

	utf8 = pg_server_to_any(message, strlen(message), PG_UTF8);
	initStringInfo(&body);
	appendStringInfoString(&body, "{\"notificationMessage\":");
	escape_json(&body, utf8);
	appendStringInfoChar(&body, '}');

	/*
	 * MTN's definition also wants the message as a header, and headers are
	 * ASCII: there it goes without accents (the body has it as written).
	 */
	headers[0] = "notificationMessage";
	headers[1] = momo_protocol_ascii(utf8);
	headers[2] = language ? "Language" : NULL;
	headers[3] = language;
	headers[4] = NULL;
	momo_events_expect_call(ref, momo_product_names[cfg.product], "delivery_notification");
	req = momo_api_call(momo_http_client(), &cfg, true,
						psprintf("v1_0/requesttopay/%s/deliverynotification", ref),
						body.data, headers);
	log_call(fcinfo, &cfg, ref, "delivery_notification", req, req->status == 200);
	if (req->status != 200)
		raise_call_failure(&cfg, "the delivery notification", req);
	PG_RETURN_VOID();
}

/*
 * The id types of GetApprovedPreApprovals' path (msisdn, email, id, alias
 * in MTN's definition): the two momo names account holders by.
 */
static const unsigned list_id_types[MOMO_N_PRODUCTS] = {
	ID_BIT(MOMO_ID_MSISDN) | ID_BIT(MOMO_ID_EMAIL), 0, 0,
};

/* The members of MTN's PreApprovalDetails, in the order of the result's columns. */
static const char *const preapproval_members[] = {
	"preApprovalId", "toFri", "fromFri", "fromCurrency", "createdTime", "approvedTime",
	"expiryTime", "status", "message", "frequency", "startDate", "lastUsedDate", "offer",
	"externalId", "maxDebitAmount"
};

/*
 * momo_approved_preapprovals(msisdn, id_type): the pre-approvals the
 * account holder (an msisdn or an email) approved for this merchant, asked
 * of MTN now (GET /collection/v1_0/preapprovals/{type}/{id}): a row per
 * PreApprovalDetails, each member as MTN wrote it (text; NULL when absent).
 */
Datum
momo_approved_preapprovals(PG_FUNCTION_ARGS)
{
	ReturnSetInfo *rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	MomoConfig	cfg;
	MomoHttpRequest *req;
	MomoProduct product;
	MomoIdType	type;
	MomoActing	a;
	char	   *id;
	char	   *text;
	JsonLexContext *lex;
	StringInfoData sql;
	Oid			argtypes[1] = {TEXTOID};
	Datum		args[1];
	int			rc;

	id = momo_validate_account_holder(fcinfo, -1, 1, list_id_types, "MTN's list of approved pre-approvals",
									  &product, &type);
	momo_require_preload();
	momo_settings_require(&cfg, MOMO_COLLECTION);
	/* Nothing is asked where momo would refuse to log it (inside the worker, an unsafe table). */
	momo_owner_enter(fcinfo, &a);
	momo_owner_leave(&a);
	charge_status_budget("the request for approved pre-approvals");
	req = momo_api_call(momo_http_client(), &cfg, false,
						psprintf("v1_0/preapprovals/%s/%s", momo_id_type_names[type],
								 momo_protocol_path_segment(id)), NULL, NULL);
	log_call(fcinfo, &cfg, NULL, "approved_preapprovals", req, req->status == 200);
	if (req->status == 404)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("MTN knows no account holder with %s %s", momo_id_type_names[type], id)));
	if (req->status != 200)
		raise_call_failure(&cfg, "the request for approved pre-approvals", req);

	/* MTN's answer: a JSON array of objects (empty when there are none). */
	text = pg_any_to_server(req->response ? req->response : "", (int) req->response_len, PG_UTF8);
	lex = makeJsonLexContextCstringLen(text, (int) strlen(text), GetDatabaseEncoding(), true);
	if (req->response_len == 0 || pg_parse_json(lex, &nullSemAction) != JSON_SUCCESS)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("MTN's answer to the request for approved pre-approvals is unreadable"),
				 errdetail("It is not JSON.")));

	InitMaterializedSRF(fcinfo, 0);
	initStringInfo(&sql);
	appendStringInfoString(&sql, "SELECT pg_catalog.jsonb_typeof($1::pg_catalog.jsonb)");
	for (size_t i = 0; i < lengthof(preapproval_members); i++)
		appendStringInfo(&sql, ", e OPERATOR(pg_catalog.->>) %s", quote_literal_cstr(preapproval_members[i]));
	appendStringInfoString(&sql, " FROM pg_catalog.jsonb_array_elements(CASE pg_catalog.jsonb_typeof($1::pg_catalog.jsonb)"
						   " WHEN 'array' THEN $1::pg_catalog.jsonb ELSE '[]' END) AS e"
						   " WHERE pg_catalog.jsonb_typeof(e) OPERATOR(pg_catalog.=) 'object'"
						   " UNION ALL SELECT pg_catalog.jsonb_typeof($1::pg_catalog.jsonb)");
	for (size_t i = 0; i < lengthof(preapproval_members); i++)
		appendStringInfoString(&sql, ", NULL");
	appendStringInfoString(&sql, " WHERE pg_catalog.jsonb_typeof($1::pg_catalog.jsonb) OPERATOR(pg_catalog.<>) 'array'");
	args[0] = CStringGetTextDatum(text);
	momo_owner_enter(fcinfo, &a);
	rc = SPI_execute_with_args(sql.data, 1, argtypes, args, NULL, true, 0);
	momo_spi_check(rc, SPI_OK_SELECT, "reading MTN's approved pre-approvals");
	{
		/*
		 * MTN lists every pre-approval the payer gave the merchant; a caller
		 * is shown only those it may see in momo_payments (a tenant's own,
		 * under row-level security), unless it may see every payment.  The
		 * rows are read first: the checks run queries of their own.
		 */
		uint64		n = SPI_processed;
		SPITupleTable *rows = SPI_tuptable;
		bool		sees_all;

		sees_all = momo_store_caller_sees_all(a.schema, a.caller);
		for (uint64 r = 0; r < n; r++)
		{
			HeapTuple	tup = rows->vals[r];
			Datum		values[lengthof(preapproval_members)];
			bool		nulls[lengthof(preapproval_members)];
			char	   *kind = SPI_getvalue(tup, rows->tupdesc, 1);
			char	   *pid = SPI_getvalue(tup, rows->tupdesc, 2);	/* preApprovalId */

			if (kind == NULL || strcmp(kind, "array") != 0)
				ereport(ERROR,
						(errcode(ERRCODE_PROTOCOL_VIOLATION),
						 errmsg("MTN's answer to the request for approved pre-approvals is not a list"),
						 errdetail("It is a JSON %s.", kind ? kind : "null")));
			if (!sees_all &&
				(pid == NULL || !momo_validate_is_uuid(pid) || !momo_store_caller_sees(a.schema, a.caller, pid)))
				continue;
			for (size_t i = 0; i < lengthof(preapproval_members); i++)
			{
				char	   *v = SPI_getvalue(tup, rows->tupdesc, (int) i + 2);

				nulls[i] = (v == NULL);
				values[i] = v ? CStringGetTextDatum(v) : (Datum) 0;
			}
			tuplestore_putvalues(rsinfo->setResult, rsinfo->setDesc, values, nulls);
		}
	}
	momo_owner_leave(&a);
	return (Datum) 0;
}

/*
 * momo_cancel_preapproval(preapproval_id): cancels, now, an approved
 * pre-approval the caller may see, as momo_refund's (its reference id: momo's
 * pre-approvals are MTN's with the X-Reference-Id momo gave them), with
 * MTN's DELETE /collection/v1_0/preapproval/{preapprovalid}.  Not undone
 * by a rollback; the row stays as it is (final rows never change), the
 * event log says what was done.
 */
Datum
momo_cancel_preapproval(PG_FUNCTION_ARGS)
{
	char	   *ref;
	MomoActing	a;
	MomoConfig	cfg;
	MomoPayment p;
	MomoHttpRequest *req;
	bool		found;

	momo_validate_require_arg(fcinfo, 0, "preapproval_id");
	ref = DatumGetCString(DirectFunctionCall1(uuid_out, PG_GETARG_DATUM(0)));
	momo_require_preload();
	momo_settings_require(&cfg, MOMO_COLLECTION);

	momo_owner_enter(fcinfo, &a);
	/* A caller who may not see the pre-approval learns nothing about it. */
	found = momo_store_caller_sees(a.schema, a.caller, ref) && momo_store_fetch(a.schema, ref, &p) &&
		p.terms.operation == MOMO_PREAPPROVAL;
	momo_owner_leave(&a);
	if (!found)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("no pre-approval has preapproval_id %s", ref),
				 errhint("A pre-approval's id is the reference id momo_preapproval returned."),
				 momo_validate_column("preapproval_id")));
	if (p.status != MOMO_STATUS_SUCCESSFUL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("pre-approval %s is %s, not approved", ref, momo_status_names[p.status]),
				 p.status == MOMO_STATUS_FAILED ? 0 :
				 errhint("MTN cancels approved pre-approvals only; wait for it with momo_await.")));
	momo_events_expect_call(ref, momo_product_names[cfg.product], "cancel_preapproval");
	req = momo_api_call_method(momo_http_client(), &cfg, "DELETE", psprintf("v1_0/preapproval/%s", ref),
							   NULL, NULL);
	log_call(fcinfo, &cfg, ref, "cancel_preapproval", req, req->status == 200);
	if (req->status == 404)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("MTN has no approved pre-approval %s", ref),
				 errhint("It may have been cancelled or have expired already: see momo_approved_preapprovals.")));
	if (req->status != 200)
		raise_call_failure(&cfg, "the cancellation of the pre-approval", req);
	PG_RETURN_VOID();
}

/* Returns true if host is a plain host name (letters, digits, dots, hyphens). */
static bool
is_host_name(const char *host)
{
	if (host[0] == '\0' || strlen(host) > 253)
		return false;
	return strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-") == strlen(host);
}

/*
 * Sends one Provisioning API request (no access token: the subscription key
 * alone): a POST, or a GET when post is false.
 */
static MomoHttpRequest *
provision_call(const MomoConfig *cfg, bool post, const char *path, const char *reference_id,
			   const char *body)
{
	MomoHttpRequest *req = NULL;

	/*
	 * With the primary key, then (401: the key was refused, as while keys
	 * are rotated, and nothing was done) with the secondary one, if set.
	 */
	for (int key = 0; key < 2; key++)
	{
		if (key == 1 && cfg->subscription_key[1] == NULL)
			break;
		req = momo_http_request(post, psprintf("%s/%s", cfg->base_url, path));
		momo_http_header(req, "Ocp-Apim-Subscription-Key", cfg->subscription_key[key]);
		momo_http_header(req, "Expect", "");
		if (reference_id)
			momo_http_header(req, "X-Reference-Id", reference_id);
		if (body)
		{
			req->body = pstrdup(body);
			momo_http_header(req, "Content-Type", "application/json");
		}
		momo_http_perform(momo_http_client(), cfg, req);
		if (req->status != 401)
			break;
	}
	return req;
}

/*
 * momo_sandbox_provision(callback_host, product): creates a sandbox API user
 * (whose callbacks must go to callback_host) and an API key with the
 * Provisioning API, and returns both, for the DBA to put into settings.
 * Production has no Provisioning API.
 */
Datum
momo_sandbox_provision(PG_FUNCTION_ARGS)
{
	MomoConfig	cfg;
	MomoConfigProblem problem;
	MomoProduct product;
	char	   *host;
	char	   *user;
	MomoHttpRequest *req;
	MomoJsonField f[] = {{.path = "apiKey"}};
	StringInfoData body;
	TupleDesc	desc;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	momo_validate_require_arg(fcinfo, 0, "callback_host");
	host = text_to_cstring(PG_GETARG_TEXT_PP(0));
	if (!is_host_name(host))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("callback_host must be a host name, such as shop.example.rw"),
				 errhint("Give the host alone: no scheme, port or path."),
				 momo_validate_column("callback_host")));
	product = momo_validate_product(fcinfo, 1);
	momo_require_preload();
	momo_settings_resolve(&cfg, product);
	if (cfg.production)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("momo_sandbox_provision is for the sandbox only"),
				 errdetail("momo.environment is production, where MTN has no Provisioning API."),
				 errhint("Create the API user and key in MTN's Partner Portal.")));
	/* Only the base URL and the subscription key are needed here. */
	if (momo_settings_check(&cfg, &problem) && cfg.subscription_key[0] == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("momo is not configured: %s", problem.message),
				 problem.hint ? errhint("%s", problem.hint) : 0));

	user = momo_protocol_new_uuid();
	initStringInfo(&body);
	appendStringInfoString(&body, "{\"providerCallbackHost\":");
	escape_json(&body, host);
	appendStringInfoChar(&body, '}');
	req = provision_call(&cfg, true, "v1_0/apiuser", user, body.data);
	log_call(fcinfo, &cfg, NULL, "provision_user", req, req->status == 201);
	if (req->status != 201)
		raise_call_failure(&cfg, "the creation of an API user", req);
	req = provision_call(&cfg, true, psprintf("v1_0/apiuser/%s/apikey", user), NULL, NULL);
	log_call(fcinfo, &cfg, NULL, "provision_key", req, req->status == 201);
	if (req->status != 201)
		raise_call_failure(&cfg, "the creation of an API key", req);
	parse_answer("the creation of an API key", req, f, lengthof(f));
	if (f[0].value == NULL || !f[0].is_string)
		ereport(ERROR,
				(errcode(ERRCODE_PROTOCOL_VIOLATION),
				 errmsg("MTN's answer has no apiKey")));
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "momo_sandbox_provision must return a record");
	values[0] = DirectFunctionCall1(uuid_in, CStringGetDatum(user));
	values[1] = CStringGetTextDatum(f[0].value);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls)));
}

/*
 * The callback host MTN has registered for cfg's API user, read with the
 * Provisioning API (GET /v1_0/apiuser/{id}; sandbox only: production has
 * none, and the Partner Portal holds it).  Returns NULL, with *error set,
 * when MTN did not tell it.  Nothing is logged in momo_events: this is a
 * question about the configuration, asked by momo_preflight.
 */
char *
momo_calls_registered_callback_host(const MomoConfig *cfg, char **error)
{
	MomoHttpRequest *req;
	MomoJsonField f[] = {{.path = "providerCallbackHost"}};
	char	   *err;

	*error = NULL;
	req = provision_call(cfg, false, psprintf("v1_0/apiuser/%s", cfg->api_user), NULL, NULL);
	if (req->status == 0)
	{
		*error = psprintf("MTN did not answer: %s", momo_http_describe_failure(req));
		return NULL;
	}
	if (req->status == 404)
	{
		*error = psprintf("MTN does not know API user %s", cfg->api_user);
		return NULL;
	}
	if (req->status != 200)
	{
		*error = psprintf("MTN answered HTTP %ld to GET /v1_0/apiuser/%s", req->status, cfg->api_user);
		return NULL;
	}
	err = momo_json_extract(req->response, req->response_len, f, lengthof(f));
	if (err != NULL || f[0].value == NULL || !f[0].is_string)
	{
		*error = psprintf("MTN's answer to GET /v1_0/apiuser/%s has no providerCallbackHost%s%s",
						  cfg->api_user, err ? ": " : "", err ? err : "");
		return NULL;
	}
	return pstrdup(f[0].value);
}
