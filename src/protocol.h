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

/* The terms of a payment, as text ready to send. */
typedef struct MomoPaymentTerms
{
	char	   *reference_id;
	char	   *amount;
	char	   *currency;
	char	   *msisdn;
	char	   *external_id;
	char	   *payer_message;	/* NULL: omitted */
	char	   *payee_note;		/* NULL: omitted */
} MomoPaymentTerms;

extern char *momo_request_to_pay_body(const MomoPaymentTerms *p);
extern MomoHttpRequest *momo_build_token_request(const MomoConfig *cfg, int key);
extern MomoHttpRequest *momo_build_request(const MomoConfig *cfg, int key, const char *token,
										   MomoOp op, const MomoPaymentTerms *p);
extern void momo_classify(MomoOp op, const MomoHttpRequest *req, MomoAnswer *a);

#endif							/* MOMO_PROTOCOL_H */
