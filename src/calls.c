/*-------------------------------------------------------------------------
 *
 * calls.c
 *	  SQL functions that ask MTN something and wait for the answer: the
 *	  balance of a product's account, whether an account holder is active,
 *	  an account holder's basic information, a delivery notification to the
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
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/numeric.h"
#include "utils/uuid.h"

#include "api.h"
#include "calls.h"
#include "json.h"
#include "lifecycle.h"
#include "momo.h"
#include "owner.h"
#include "settings.h"
#include "store.h"
#include "validate.h"

PG_FUNCTION_INFO_V1(momo_balance);
PG_FUNCTION_INFO_V1(momo_account_holder_active);
PG_FUNCTION_INFO_V1(momo_account_holder_info);
PG_FUNCTION_INFO_V1(momo_delivery_notification);
PG_FUNCTION_INFO_V1(momo_sandbox_provision);

/* Logs a finished call in momo_events, in the schema of the called function. */
static void
log_call(FunctionCallInfo fcinfo, const MomoConfig *cfg, const char *reference_id,
		 const char *operation, const MomoHttpRequest *req, bool ok)
{
	MomoActing a;

	momo_owner_enter(fcinfo, &a);
	momo_store_log_event(a.schema, reference_id, momo_product_names[cfg->product], operation,
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
		ereport(ERROR,
				(errcode(req->status >= 500 ? ERRCODE_CONNECTION_FAILURE : ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("MTN refused %s: %s", what, f[0].value),
				 errdetail("HTTP %ld%s%s.", req->status, f[1].value ? ": " : "", f[1].value ? f[1].value : "")));
	ereport(ERROR,
			(errcode(req->status >= 500 ? ERRCODE_CONNECTION_FAILURE : ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("MTN answered %s with HTTP %ld", what, req->status),
			 req->status == 401 ?
			 errhint("Check the %s credentials.", momo_product_names[cfg->product]) : 0));
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

/* momo_account_holder_active(msisdn, product): whether MTN knows msisdn as an active account. */
Datum
momo_account_holder_active(PG_FUNCTION_ARGS)
{
	MomoConfig	cfg;
	MomoHttpRequest *req;
	MomoJsonField f[] = {{.path = "result"}};
	MomoProduct product;
	char	   *msisdn = momo_validate_account_holder(fcinfo, &product);

	momo_require_preload();
	momo_settings_require(&cfg, product);
	charge_status_budget("the account holder check");
	req = momo_api_call(momo_http_client(), &cfg, false,
						psprintf("v1_0/accountholder/msisdn/%s/active", msisdn), NULL, NULL);
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

/* momo_account_holder_info(msisdn, product): MTN's basic information on an account holder. */
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
	char	   *msisdn = momo_validate_account_holder(fcinfo, &product);

	momo_require_preload();
	momo_settings_require(&cfg, product);
	charge_status_budget("the account holder information request");
	req = momo_api_call(momo_http_client(), &cfg, false,
						psprintf("v1_0/accountholder/msisdn/%s/basicuserinfo", msisdn), NULL, NULL);
	log_call(fcinfo, &cfg, NULL, "account_holder_info", req, req->status == 200);
	if (req->status == 404)
		ereport(ERROR,
				(errcode(ERRCODE_NO_DATA_FOUND),
				 errmsg("MTN knows no account holder with msisdn %s", msisdn)));
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
	req = momo_api_call(momo_http_client(), &cfg, true,
						psprintf("v1_0/requesttopay/%s/deliverynotification", ref),
						body.data, headers);
	log_call(fcinfo, &cfg, ref, "delivery_notification", req, req->status == 200);
	if (req->status != 200)
		raise_call_failure(&cfg, "the delivery notification", req);
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
	MomoHttpRequest *req = momo_http_request(post, psprintf("%s/%s", cfg->base_url, path));

	momo_http_header(req, "Ocp-Apim-Subscription-Key", cfg->subscription_key[0]);
	momo_http_header(req, "Expect", "");
	if (reference_id)
		momo_http_header(req, "X-Reference-Id", reference_id);
	if (body)
	{
		req->body = pstrdup(body);
		momo_http_header(req, "Content-Type", "application/json");
	}
	momo_http_perform(momo_http_client(), cfg, req);
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
