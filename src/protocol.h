/*-------------------------------------------------------------------------
 *
 * protocol.h
 *	  The MoMo requests momo builds.  No I/O here.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MOMO_PROTOCOL_H
#define MOMO_PROTOCOL_H

#include "answers.h"
#include "http.h"
#include "settings.h"

/* What a payment does; decides product, path and body. */
typedef enum MomoOperation
{
	MOMO_REQUEST_TO_PAY,		/* collection: money in from msisdn */
	MOMO_TRANSFER,				/* disbursement: money out to msisdn */
	MOMO_DEPOSIT,				/* disbursement: deposit to msisdn */
	MOMO_REFUND,				/* disbursement: refund of a request to pay */
	MOMO_REMITTANCE_TRANSFER,	/* remittance: money out to msisdn */
	MOMO_REQUEST_TO_WITHDRAW,	/* collection: cash-out from msisdn */
	MOMO_CASH_TRANSFER,			/* remittance: cash transfer to msisdn (v2 only) */
	MOMO_INVOICE,				/* collection: invoice to the payer msisdn (v2 only) */
	MOMO_PAYMENT,				/* collection: payment to a service provider
								 * for the customer reference msisdn (v2 only) */
	MOMO_PREAPPROVAL,			/* collection: pre-approval by the payer msisdn
								 * (v2 only; no amount) */
	MOMO_N_OPERATIONS
} MomoOperation;

/* An operation's name in momo_payments.operation, and its product. */
extern const char *const momo_operation_names[MOMO_N_OPERATIONS];
extern MomoProduct momo_protocol_operation_product(MomoOperation op);
extern MomoOperation momo_protocol_operation_by_name(const char *operation, const char *product);

/*
 * How an account holder is named (MTN's Party: partyIdType MSISDN, EMAIL or
 * PARTY_CODE; accountHolderIdType msisdn, email or party_code in paths).
 */
typedef enum MomoIdType
{
	MOMO_ID_MSISDN,
	MOMO_ID_EMAIL,
	MOMO_ID_PARTY_CODE,
	MOMO_N_ID_TYPES
} MomoIdType;

/* Its name in paths (and in momo's id_type arguments), and in bodies. */
extern const char *const momo_id_type_names[MOMO_N_ID_TYPES];
extern const char *const momo_party_id_types[MOMO_N_ID_TYPES];
extern char *momo_protocol_path_segment(const char *s);
extern MomoIdType momo_protocol_id_type_by_name(const char *name);

/* The terms of a payment, as text ready to send. */
typedef struct MomoPaymentTerms
{
	MomoOperation operation;
	char	   *refund_of;		/* reference id refunded, for MOMO_REFUND */
	char	   *reference_id;
	char	   *amount;			/* NULL for a pre-approval */
	char	   *currency;
	char	   *msisdn;			/* the payer's or payee's id, of party_id_type */
	MomoIdType	party_id_type;	/* how msisdn names the party (0: by number) */
	char	   *external_id;
	char	   *payer_message;	/* NULL: omitted */
	char	   *payee_note;		/* NULL: omitted */
	int			api_version;	/* 1 or 2: /v1_0 or /v2_0 of the creating POST */
	char	   *extra_terms;	/* the further members of the body, as jsonb's text
								 * of an object (a cash transfer's, an invoice's,
								 * a payment's, a pre-approval's); NULL: none */
	char	   *callback_url;	/* the payment's own callback URL; NULL:
								 * momo.callback_url */
} MomoPaymentTerms;

extern char *momo_protocol_payment_body(const MomoPaymentTerms *p);
extern char *momo_protocol_new_uuid(void);
extern char *momo_protocol_ascii(const char *utf8);
extern char *momo_protocol_callback_signature(const char *secret, const char *reference_id);
extern char *momo_protocol_callback_url(const MomoConfig *cfg, const char *reference_id,
										const char *own_url);
extern MomoHttpRequest *momo_protocol_call(const MomoConfig *cfg, int key, const char *token,
										   bool post, const char *path);
extern MomoHttpRequest *momo_protocol_token_request(const MomoConfig *cfg, int key);
extern char *momo_protocol_bc_authorize_body(const char *msisdn, const char *scope);
extern MomoHttpRequest *momo_protocol_consent_token_request(const MomoConfig *cfg, int key,
															const char *auth_req_id);
extern MomoHttpRequest *momo_protocol_request(const MomoConfig *cfg, int key, const char *token,
											  MomoOp op, const MomoPaymentTerms *p);
extern void momo_protocol_classify(MomoOp op, const MomoHttpRequest *req, MomoAnswer *a);

#endif							/* MOMO_PROTOCOL_H */
