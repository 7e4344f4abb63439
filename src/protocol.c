/*-------------------------------------------------------------------------
 *
 * protocol.c
 *	  Builds the MoMo requests momo sends: tokens, the creating POSTs of every
 *	  operation (request to pay, transfer, deposit, refund, remittance
 *	  transfer, request to withdraw, cash transfer, invoice, payment) and
 *	  their status checks, and the other
 *	  product calls, with the headers every call carries; and signs the
 *	  reference id momo puts in callback URLs.  What the answers mean is
 *	  answers.c's job.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/json.h"

#include "protocol.h"

const char *const momo_operation_names[MOMO_N_OPERATIONS] = {
	"request_to_pay", "transfer", "deposit", "refund", "transfer", "request_to_withdraw",
	"cash_transfer",
	"invoice", "payment",
	"preapproval",
};

/*
 * Path of each operation under the base URL: of its status checks, and of
 * its creating POST in version 1 (/v1_0).
 */
static const char *const operation_paths[MOMO_N_OPERATIONS] = {
	"collection/v1_0/requesttopay",
	"disbursement/v1_0/transfer",
	"disbursement/v1_0/deposit",
	"disbursement/v1_0/refund",
	"remittance/v1_0/transfer",
	"collection/v1_0/requesttowithdraw",
	"remittance/v2_0/cashtransfer",	/* MTN has no version 1 of it */
	"collection/v2_0/invoice",	/* nor of these three */
	"collection/v2_0/payment",
	"collection/v2_0/preapproval",
};

/*
 * Path of the creating POST of each operation in version 2 (/v2_0), whose
 * callback MTN PUTs; NULL where momo sends only version 1.  Status checks
 * stay on /v1_0, the only version MTN has of them, except those of the
 * operations that have only a version 2 (cash transfer, invoice, payment).
 */
static const char *const operation_paths_v2[MOMO_N_OPERATIONS] = {
	[MOMO_DEPOSIT] = "disbursement/v2_0/deposit",
	[MOMO_REFUND] = "disbursement/v2_0/refund",
	[MOMO_REQUEST_TO_WITHDRAW] = "collection/v2_0/requesttowithdraw",
	[MOMO_CASH_TRANSFER] = "remittance/v2_0/cashtransfer",
	[MOMO_INVOICE] = "collection/v2_0/invoice",
	[MOMO_PAYMENT] = "collection/v2_0/payment",
	[MOMO_PREAPPROVAL] = "collection/v2_0/preapproval",
};

/* Returns the product an operation belongs to. */
MomoProduct
momo_protocol_operation_product(MomoOperation op)
{
	switch (op)
	{
		case MOMO_REQUEST_TO_PAY:
		case MOMO_REQUEST_TO_WITHDRAW:
		case MOMO_INVOICE:
		case MOMO_PAYMENT:
		case MOMO_PREAPPROVAL:
			return MOMO_COLLECTION;
		case MOMO_REMITTANCE_TRANSFER:
		case MOMO_CASH_TRANSFER:
			return MOMO_REMITTANCE;
		default:
			return MOMO_DISBURSEMENT;
	}
}

/*
 * Returns the operation stored as (operation, product) in momo_payments:
 * the one of that name and product (transfer is both a disbursement and a
 * remittance), else the first of that name, else a request to pay.
 */
MomoOperation
momo_protocol_operation_by_name(const char *operation, const char *product)
{
	MomoOperation found = MOMO_N_OPERATIONS;

	for (int op = 0; op < MOMO_N_OPERATIONS; op++)
	{
		if (strcmp(operation, momo_operation_names[op]) != 0)
			continue;
		if (strcmp(product, momo_product_names[momo_protocol_operation_product((MomoOperation) op)]) == 0)
			return (MomoOperation) op;
		if (found == MOMO_N_OPERATIONS)
			found = (MomoOperation) op;
	}
	return found == MOMO_N_OPERATIONS ? MOMO_REQUEST_TO_PAY : found;
}


/* ASCII spellings of U+00C0 to U+017F, the letters of Latin-1 and Latin Extended-A. */
static const char *const latin_in_ascii[] = {
	"A", "A", "A", "A", "A", "A", "AE", "C",
	"E", "E", "E", "E", "I", "I", "I", "I",
	"D", "N", "O", "O", "O", "O", "O", "x",
	"O", "U", "U", "U", "U", "Y", "TH", "ss",
	"a", "a", "a", "a", "a", "a", "ae", "c",
	"e", "e", "e", "e", "i", "i", "i", "i",
	"d", "n", "o", "o", "o", "o", "o", "/",
	"o", "u", "u", "u", "u", "y", "th", "y",
	"A", "a", "A", "a", "A", "a", "C", "c",
	"C", "c", "C", "c", "C", "c", "D", "d",
	"D", "d", "E", "e", "E", "e", "E", "e",
	"E", "e", "E", "e", "G", "g", "G", "g",
	"G", "g", "G", "g", "H", "h", "H", "h",
	"I", "i", "I", "i", "I", "i", "I", "i",
	"I", "i", "IJ", "ij", "J", "j", "K", "k",
	"k", "L", "l", "L", "l", "L", "l", "L",
	"l", "L", "l", "N", "n", "N", "n", "N",
	"n", "n", "N", "n", "O", "o", "O", "o",
	"O", "o", "OE", "oe", "R", "r", "R", "r",
	"R", "r", "S", "s", "S", "s", "S", "s",
	"S", "s", "T", "t", "T", "t", "T", "t",
	"U", "u", "U", "u", "U", "u", "U", "u",
	"U", "u", "U", "u", "W", "w", "Y", "y",
	"Y", "Z", "z", "Z", "z", "Z", "z", "s"
};

/*
 * Returns utf8 (UTF-8 text) in ASCII, for a header: each letter of Latin-1
 * or Latin Extended-A without its accent (e with an acute accent becomes
 * e, the ligatures two letters), a no-break space a space, every other
 * character that is not ASCII a question mark.  HTTP headers carry ASCII
 * (MTN's gateway refuses others, as most do), where a body carries UTF-8.
 */
char *
momo_protocol_ascii(const char *utf8)
{
	StringInfoData out;
	const unsigned char *s = (const unsigned char *) utf8;

	initStringInfo(&out);
	while (*s)
	{
		int			len = pg_utf_mblen(s);
		pg_wchar	cp;

		if (*s < 0x80)
		{
			appendStringInfoChar(&out, (char) *s++);
			continue;
		}
		if (strnlen((const char *) s, len) < (size_t) len)
			break;				/* cut short: not UTF-8 */
		cp = utf8_to_unicode(s);
		if (cp >= 0xC0 && cp < 0xC0 + lengthof(latin_in_ascii))
			appendStringInfoString(&out, latin_in_ascii[cp - 0xC0]);
		else
			appendStringInfoChar(&out, cp == 0xA0 ? ' ' : '?');
		s += len;
	}
	return out.data;
}

/* Appends a JSON string holding s (server encoding) converted to UTF-8. */
static void
append_json_string(StringInfo buf, const char *s)
{
	char	   *utf8 = pg_server_to_any(s, strlen(s), PG_UTF8);

	escape_json(buf, utf8);
}

/* (one a line: test/c-names.sh reads them for the regression test lifecycle) */
const char *const momo_id_type_names[MOMO_N_ID_TYPES] = {
	"msisdn", "email", "party_code"
};
const char *const momo_party_id_types[MOMO_N_ID_TYPES] = {"MSISDN", "EMAIL", "PARTY_CODE"};

/* Returns the id type named name (as momo_payments.party_id_type keeps it). */
MomoIdType
momo_protocol_id_type_by_name(const char *name)
{
	for (int t = 0; t < MOMO_N_ID_TYPES; t++)
		if (name != NULL && strcmp(name, momo_id_type_names[t]) == 0)
			return (MomoIdType) t;
	elog(ERROR, "unknown party id type \"%s\"", name ? name : "(null)");
	return MOMO_ID_MSISDN;		/* keep compiler quiet */
}

/*
 * Returns s escaped for one segment of a URL's path: every byte but
 * letters, digits and "-._~" (RFC 3986's unreserved characters) as %XX, so
 * that an email's "@" and "+", or a "/", cannot change the path.
 */
char *
momo_protocol_path_segment(const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	StringInfoData buf;

	initStringInfo(&buf);
	for (const unsigned char *c = (const unsigned char *) s; *c; c++)
	{
		if ((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
			*c == '-' || *c == '.' || *c == '_' || *c == '~')
			appendStringInfoChar(&buf, (char) *c);
		else
		{
			appendStringInfoChar(&buf, '%');
			appendStringInfoChar(&buf, hex[*c >> 4]);
			appendStringInfoChar(&buf, hex[*c & 15]);
		}
	}
	return buf.data;
}

/*
 * Appends the further members of a payment's body (a cash transfer's, an
 * invoice's, a payment's): those of the stored jsonb object, as kept.
 */
static void
append_extra_terms(StringInfo buf, const MomoPaymentTerms *p)
{
	const char *utf8;
	size_t		len;

	if (p->extra_terms == NULL)
		return;
	/* Kept in the database's encoding; MTN takes UTF-8. */
	utf8 = pg_server_to_any(p->extra_terms, strlen(p->extra_terms), PG_UTF8);
	len = strlen(utf8);
	if (len < 2 || utf8[0] != '{' || utf8[len - 1] != '}')
		elog(ERROR, "payment %s has extra terms that are not a JSON object", p->reference_id);
	if (len > 2)
	{
		appendStringInfoChar(buf, ',');
		appendBinaryStringInfo(buf, utf8 + 1, len - 2);
	}
}

/*
 * Builds the JSON body of a pre-approval (MTN's PreApproval): the payer's
 * currency and message, then the payer and validityTime as the row keeps
 * them in extra_terms.  It has no amount, externalId nor payeeNote.
 */
static char *
preapproval_body(const MomoPaymentTerms *p)
{
	StringInfoData buf;

	if (p->extra_terms == NULL)
		elog(ERROR, "pre-approval %s has no payer", p->reference_id);
	initStringInfo(&buf);
	appendStringInfoString(&buf, "{\"payerCurrency\":");
	append_json_string(&buf, p->currency);
	if (p->payer_message && p->payer_message[0])
	{
		appendStringInfoString(&buf, ",\"payerMessage\":");
		append_json_string(&buf, p->payer_message);
	}
	append_extra_terms(&buf, p);
	appendStringInfoChar(&buf, '}');
	return buf.data;
}

/*
 * Builds the JSON body of a payment: the payer of a request to pay or to
 * withdraw, the payee of the others (each of the party id type the row
 * keeps), the refunded reference id of a refund,
 * the further members of a cash transfer, an invoice or a payment.  Empty
 * optional fields are omitted.  An invoice's payer is its intendedPayer; a
 * payment (MTN's CreatePayments) has its own shape: externalTransactionId,
 * money {amount, currency} and the customer reference (kept in msisdn); a
 * pre-approval too (see preapproval_body).
 */
char *
momo_protocol_payment_body(const MomoPaymentTerms *p)
{
	StringInfoData buf;

	if (p->operation == MOMO_PREAPPROVAL)
		return preapproval_body(p);
	initStringInfo(&buf);
	if (p->operation == MOMO_PAYMENT)
	{
		appendStringInfoString(&buf, "{\"externalTransactionId\":");
		append_json_string(&buf, p->external_id);
		appendStringInfoString(&buf, ",\"money\":{\"amount\":");
		append_json_string(&buf, p->amount);
		appendStringInfoString(&buf, ",\"currency\":");
		append_json_string(&buf, p->currency);
		appendStringInfoString(&buf, "},\"customerReference\":");
		append_json_string(&buf, p->msisdn);
		append_extra_terms(&buf, p);
		appendStringInfoChar(&buf, '}');
		return buf.data;
	}
	appendStringInfoString(&buf, "{\"amount\":");
	append_json_string(&buf, p->amount);
	appendStringInfoString(&buf, ",\"currency\":");
	append_json_string(&buf, p->currency);
	appendStringInfoString(&buf, ",\"externalId\":");
	append_json_string(&buf, p->external_id);
	appendStringInfoString(&buf, p->operation == MOMO_INVOICE ? ",\"intendedPayer\":" :
						   (p->operation == MOMO_REQUEST_TO_PAY ||
							p->operation == MOMO_REQUEST_TO_WITHDRAW) ? ",\"payer\":" : ",\"payee\":");
	appendStringInfoString(&buf, "{\"partyIdType\":");
	append_json_string(&buf, momo_party_id_types[p->party_id_type]);
	appendStringInfoString(&buf, ",\"partyId\":");
	append_json_string(&buf, p->msisdn);
	appendStringInfoChar(&buf, '}');
	if (p->operation == MOMO_REFUND && p->refund_of)
	{
		appendStringInfoString(&buf, ",\"referenceIdToRefund\":");
		append_json_string(&buf, p->refund_of);
	}
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
	append_extra_terms(&buf, p);
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
momo_protocol_token_request(const MomoConfig *cfg, int key)
{
	MomoHttpRequest *req = momo_http_request(true, psprintf("%s/%s/token/", cfg->base_url,
															momo_product_names[cfg->product]));

	add_common_headers(req, cfg, key);
	req->userpwd = psprintf("%s:%s", cfg->api_user, cfg->api_key);
	return req;
}

/*
 * Appends s to a form body (application/x-www-form-urlencoded): every byte
 * but the unreserved characters percent-encoded.
 */
static void
append_form_value(StringInfo buf, const char *s)
{
	for (const unsigned char *c = (const unsigned char *) s; *c; c++)
	{
		if ((*c >= 'A' && *c <= 'Z') || (*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') ||
			*c == '-' || *c == '.' || *c == '_' || *c == '~')
			appendStringInfoChar(buf, (char) *c);
		else
			appendStringInfo(buf, "%%%02X", *c);
	}
}

/*
 * The form body of POST /{product}/v1_0/bc-authorize: the account holder
 * msisdn asked to consent to scope, online (momo keeps no refresh token).
 */
char *
momo_protocol_bc_authorize_body(const char *msisdn, const char *scope)
{
	StringInfoData buf;

	initStringInfo(&buf);
	appendStringInfoString(&buf, "login_hint=");
	append_form_value(&buf, psprintf("ID:%s/MSISDN", msisdn));
	appendStringInfoString(&buf, "&scope=");
	append_form_value(&buf, scope);
	appendStringInfoString(&buf, "&access_type=online");
	return buf.data;
}

/*
 * Builds POST /{product}/oauth2/token/ asking for the OAuth2 token of the
 * consent request auth_req_id (OpenID CIBA's grant): HTTP Basic with the API
 * user and key, as for an access token, and a form body.
 */
MomoHttpRequest *
momo_protocol_consent_token_request(const MomoConfig *cfg, int key, const char *auth_req_id)
{
	MomoHttpRequest *req = momo_http_request(true, psprintf("%s/%s/oauth2/token/", cfg->base_url,
															momo_product_names[cfg->product]));
	StringInfoData body;

	initStringInfo(&body);
	appendStringInfoString(&body, "grant_type=urn%3Aopenid%3Aparams%3Agrant-type%3Aciba&auth_req_id=");
	append_form_value(&body, auth_req_id);
	req->body = body.data;
	add_common_headers(req, cfg, key);
	momo_http_header(req, "X-Target-Environment", cfg->target_environment);
	momo_http_header(req, "Content-Type", "application/x-www-form-urlencoded");
	req->userpwd = psprintf("%s:%s", cfg->api_user, cfg->api_key);
	return req;
}

/* Returns a fresh random UUID (version 4) in its text form: reference ids and API users. */
char *
momo_protocol_new_uuid(void)
{
	unsigned char b[16];

	if (!pg_strong_random(b, sizeof(b)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random UUID")));
	b[6] = (b[6] & 0x0f) | 0x40;	/* version 4 */
	b[8] = (b[8] & 0x3f) | 0x80;	/* RFC 4122 variant */
	return psprintf("%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
					b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
					b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

/*
 * Returns the hex HMAC-SHA256 of reference_id under secret: the signature
 * momo puts in callback URLs.
 */
char *
momo_protocol_callback_signature(const char *secret, const char *reference_id)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	char	   *hex;

	if (HMAC(EVP_sha256(), secret, (int) strlen(secret),
			 (const unsigned char *) reference_id, strlen(reference_id), mac, &len) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not compute a callback signature (OpenSSL HMAC failed)")));
	hex = palloc(len * 2 + 1);
	for (unsigned int i = 0; i < len; i++)
		snprintf(hex + i * 2, 3, "%02x", mac[i]);
	OPENSSL_cleanse(mac, sizeof(mac));
	return hex;
}

/*
 * Returns the X-Callback-Url for a payment: its own URL (own_url, the
 * callback_url it was requested with) or else momo.callback_url, with the
 * reference id and, when momo.callback_secret is set, its signature added
 * to the query string (MTN's callbacks carry neither).  NULL when there is
 * no callback URL.
 */
char *
momo_protocol_callback_url(const MomoConfig *cfg, const char *reference_id, const char *own_url)
{
	const char *url = own_url ? own_url : cfg->callback_url;
	const char *sep;

	if (url == NULL)
		return NULL;
	sep = strchr(url, '?') ? "&" : "?";
	if (cfg->callback_secret == NULL)
		return psprintf("%s%smomo_ref=%s", url, sep, reference_id);
	return psprintf("%s%smomo_ref=%s&momo_sig=%s", url, sep, reference_id,
					momo_protocol_callback_signature(cfg->callback_secret, reference_id));
}

/* Adds the headers of a call with an access token: bearer token, target environment, key. */
static void
add_product_headers(MomoHttpRequest *req, const MomoConfig *cfg, int key, const char *token)
{
	char	   *auth = psprintf("Bearer %s", token);

	momo_http_header(req, "Authorization", auth);
	momo_http_header(req, "X-Target-Environment", cfg->target_environment);
	add_common_headers(req, cfg, key);
	explicit_bzero(auth, strlen(auth));
	pfree(auth);
}

/* Builds a product call (GET, or POST without a body) to path under the product's base. */
MomoHttpRequest *
momo_protocol_call(const MomoConfig *cfg, int key, const char *token, bool post, const char *path)
{
	MomoHttpRequest *req = momo_http_request(post, psprintf("%s/%s/%s", cfg->base_url,
															momo_product_names[cfg->product], path));

	add_product_headers(req, cfg, key, token);
	return req;
}

/* Builds the creating POST (op CREATE) or the status check (GET) of payment p. */
MomoHttpRequest *
momo_protocol_request(const MomoConfig *cfg, int key, const char *token,
					  MomoOp op, const MomoPaymentTerms *p)
{
	MomoHttpRequest *req;
	const char *path = operation_paths[p->operation];

	if (op == MOMO_OP_CREATE)
	{
		char	   *callback = momo_protocol_callback_url(cfg, p->reference_id, p->callback_url);

		if (p->api_version == 2)
		{
			path = operation_paths_v2[p->operation];
			if (path == NULL)
				elog(ERROR, "momo sends no version 2 of operation %s",
					 momo_operation_names[p->operation]);
		}
		else if (p->api_version != 1)
			elog(ERROR, "payment %s has API version %d, not 1 or 2", p->reference_id, p->api_version);

		req = momo_http_request(true, psprintf("%s/%s", cfg->base_url, path));
		req->body = momo_protocol_payment_body(p);
		momo_http_header(req, "X-Reference-Id", p->reference_id);
		momo_http_header(req, "Content-Type", "application/json");
		if (callback)
			momo_http_header(req, "X-Callback-Url", callback);
	}
	else
		req = momo_http_request(false, psprintf("%s/%s/%s", cfg->base_url, path, p->reference_id));
	add_product_headers(req, cfg, key, token);
	return req;
}

/* Classifies the outcome of a finished HTTP request. */
void
momo_protocol_classify(MomoOp op, const MomoHttpRequest *req, MomoAnswer *a)
{
	momo_answers_classify(op, req->status, req->response, req->response_len, a);
	a->elapsed = req->elapsed;
	if (req->status == 0)
	{
		a->error = momo_http_describe_failure(req);
		/*
		 * No connection or no TLS session (refused, unresolved, timed out,
		 * certificate refused): the request itself never left.
		 */
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
				a->not_sent = !req->request_started;
				break;
		}
	}
}
