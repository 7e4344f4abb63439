/*-------------------------------------------------------------------------
 *
 * answers.h
 *	  What MTN's answers mean: verdicts, and the parsers of answer bodies.
 *	  Free of libcurl and of the backend, for the fuzzing harness.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MOMO_ANSWERS_H
#define MOMO_ANSWERS_H

/* Longest access token momo keeps. */
#define MOMO_MAX_TOKEN_LEN 4096

/*
 * Longest invoiceId or paymentReference of an invoice momo keeps, in bytes
 * (momo_payments' constraint momo_payments_invoice_refs_length says the same).
 */
#define MOMO_MAX_INVOICE_REF_LEN 100

typedef enum MomoOp
{
	MOMO_OP_CREATE,				/* POST /collection/v1_0/requesttopay */
	MOMO_OP_STATUS				/* GET /collection/v1_0/requesttopay/{ref} */
} MomoOp;

typedef enum MomoVerdict
{
	MOMO_ACCEPTED,				/* 202, or 409: MTN holds the request */
	MOMO_PENDING,				/* status PENDING or CREATED */
	MOMO_SUCCESSFUL,			/* status SUCCESSFUL */
	MOMO_FAILED,				/* status FAILED: final */
	MOMO_REJECTED,				/* MTN refused the request for good: final */
	MOMO_NOT_FOUND,				/* 404 on a status check */
	MOMO_TOKEN_REFUSED,			/* 401: the access token expired or is invalid */
	MOMO_KEY_REFUSED,			/* 401: the subscription key was refused */
	MOMO_MERCHANT_REFUSED,		/* MTN refused the merchant's configuration, not
								 * the payment: pause sending */
	MOMO_RETRY					/* transient: try again later */
} MomoVerdict;

/* What one answer from MTN means for a payment. */
typedef struct MomoAnswer
{
	MomoVerdict verdict;
	int			http_status;	/* 0 when no answer came */
	char	   *reason;			/* MTN's reason or error code */
	char	   *financial_transaction_id;
	double		expires;		/* a pre-approval's expirationDateTime, or an
								 * invoice's expiryDateTime, seconds since the
								 * epoch; < 0: none */
	char	   *invoice_id;		/* an invoice's invoiceId, or NULL */
	char	   *payment_reference;	/* an invoice's paymentReference (what its
									 * payer quotes), or NULL */
	char	   *error;			/* for last_error; NULL for a clean answer */
	bool		not_sent;		/* the request provably never reached MTN */
	bool		given_back;		/* the worker only: MTN processed nothing of
								 * the call, which is given back unsent (not
								 * recorded, due again; see api.c, give_back) */
	double		elapsed;		/* seconds */
} MomoAnswer;

/* Result of an attempt to get an access token. */
typedef enum MomoTokenResult
{
	MOMO_TOKEN_OK,
	MOMO_TOKEN_KEY_REFUSED,		/* subscription key refused */
	MOMO_TOKEN_LOGIN_FAILED,	/* API user or key refused */
	MOMO_TOKEN_TRANSIENT,		/* try again later */
	MOMO_TOKEN_PENDING			/* the worker only: a new token is on its way
								 * (see momo_api_background_tokens) */
} MomoTokenResult;

/* The kinds of MTN's refusals (momo_answers_refusal). */
typedef enum MomoRefusal
{
	MOMO_REFUSED_CONFIGURATION, /* the merchant's configuration */
	MOMO_REFUSED_NOT_ALLOWED,	/* the account may not do it */
	MOMO_REFUSED_NOT_FOUND,		/* no such account holder or resource */
	MOMO_REFUSED_VALUE,			/* a value MTN does not take */
	MOMO_REFUSED_TRANSIENT		/* a retry may succeed */
} MomoRefusal;

extern MomoRefusal momo_answers_refusal(const char *code);
extern void momo_answers_classify(MomoOp op, long status, const char *body, size_t len,
								  MomoAnswer *a);
extern MomoTokenResult momo_answers_parse_token(long status, const char *body, size_t len,
												char **token, int *expires_in, char **error);

extern char *momo_answers_parse_callback_body(const char *body, size_t len, char **status,
											  char **external_id);

/* Longest callback body whose claimed status momo reads (MTN's are under 1 kB). */
#define MOMO_MAX_CALLBACK_BODY 65536

extern const char *momo_answers_callback_claimed_status(const char *body, size_t len);
extern bool momo_answers_parse_callback_query(const char *query, char **ref, char **sig);

#endif							/* MOMO_ANSWERS_H */
