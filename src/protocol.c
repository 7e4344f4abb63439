/*-------------------------------------------------------------------------
 *
 * protocol.c
 *	  Builds the MoMo requests momo sends: token, request to pay, status
 *	  check, with the headers every product call carries.  What the answers
 *	  mean is answers.c's job.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/json.h"

#include "protocol.h"


/* Appends a JSON string holding s (server encoding) converted to UTF-8. */
static void
append_json_string(StringInfo buf, const char *s)
{
	char	   *utf8 = pg_server_to_any(s, strlen(s), PG_UTF8);

	escape_json(buf, utf8);
}

/* Builds the JSON body of a request to pay; empty optional fields are omitted. */
char *
momo_request_to_pay_body(const MomoPaymentTerms *p)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"amount\":");
	append_json_string(&buf, p->amount);
	appendStringInfoString(&buf, ",\"currency\":");
	append_json_string(&buf, p->currency);
	appendStringInfoString(&buf, ",\"externalId\":");
	append_json_string(&buf, p->external_id);
	appendStringInfoString(&buf, ",\"payer\":{\"partyIdType\":\"MSISDN\",\"partyId\":");
	append_json_string(&buf, p->msisdn);
	appendStringInfoChar(&buf, '}');
	if (p->payer_message && p->payer_message[0])
	{
		appendStringInfoString(&buf, ",\"payerMessage\":");
		append_json_string(&buf, p->payer_message);
	}
	if (p->payee_note && p->payee_note[0])
	{
		appendStringInfoString(&buf, ",\"payeeNote\":");
		append_json_string(&buf, p->payee_note);
	}
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/* Adds the headers every product call carries. */
static void
add_common_headers(MomoHttpRequest *req, const MomoConfig *cfg, int key)
{
	momo_http_header(req, "Ocp-Apim-Subscription-Key", cfg->subscription_key[key]);
	momo_http_header(req, "Accept", "application/json");
	/* Never wait for "100 Continue": MTN's gateway does not send it. */
	momo_http_header(req, "Expect", "");
}

/* Builds POST /collection/token/ with HTTP Basic credentials and an empty body. */
MomoHttpRequest *
momo_build_token_request(const MomoConfig *cfg, int key)
{
	MomoHttpRequest *req = momo_http_request(true, psprintf("%s/%s/token/", cfg->base_url,
															momo_product_names[cfg->product]));

	add_common_headers(req, cfg, key);
	req->userpwd = psprintf("%s:%s", cfg->api_user, cfg->api_key);
	return req;
}

/* Builds a request to pay (POST) or a status check (GET) for payment p. */
MomoHttpRequest *
momo_build_request(const MomoConfig *cfg, int key, const char *token,
				   MomoOp op, const MomoPaymentTerms *p)
{
	MomoHttpRequest *req;
	char	   *auth = psprintf("Bearer %s", token);

	if (op == MOMO_OP_CREATE)
	{
		req = momo_http_request(true, psprintf("%s/collection/v1_0/requesttopay", cfg->base_url));
		req->body = momo_request_to_pay_body(p);
		momo_http_header(req, "X-Reference-Id", p->reference_id);
		momo_http_header(req, "Content-Type", "application/json");
		if (cfg->callback_url)
			momo_http_header(req, "X-Callback-Url", cfg->callback_url);
	}
	else
		req = momo_http_request(false, psprintf("%s/collection/v1_0/requesttopay/%s",
												cfg->base_url, p->reference_id));
	momo_http_header(req, "Authorization", auth);
	momo_http_header(req, "X-Target-Environment", cfg->target_environment);
	add_common_headers(req, cfg, key);
	explicit_bzero(auth, strlen(auth));
	pfree(auth);
	return req;
}

/* Classifies the outcome of a finished HTTP request. */
void
momo_classify(MomoOp op, const MomoHttpRequest *req, MomoAnswer *a)
{
	momo_classify_answer(op, req->status, req->response, req->response_len, a);
	a->elapsed = req->elapsed;
	if (req->status == 0)
	{
		a->error = momo_http_describe_failure(req);
		/* No connection, or no TLS session: the request itself never left. */
		switch (req->result)
		{
			case CURLE_COULDNT_RESOLVE_PROXY:
			case CURLE_COULDNT_RESOLVE_HOST:
			case CURLE_COULDNT_CONNECT:
			case CURLE_SSL_CONNECT_ERROR:
			case CURLE_PEER_FAILED_VERIFICATION:
				a->not_sent = true;
				break;
			default:
				break;
		}
	}
}
