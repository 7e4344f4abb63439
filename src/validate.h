/*-------------------------------------------------------------------------
 *
 * validate.h
 *	  Checks of the terms of a payment before anything is written.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MOMO_VALIDATE_H
#define MOMO_VALIDATE_H

#include "fmgr.h"
#include "utils/elog.h"

#include "protocol.h"
#include "settings.h"

/*
 * In an ereport: the error is about argument name (or names, comma-separated),
 * which a client reads as the error's column name (PG_DIAG_COLUMN_NAME).
 */
#define momo_validate_column(name) err_generic_string(PG_DIAG_COLUMN_NAME, (name))

extern bool momo_validate_converts_to_utf8(const char *s);
extern bool momo_validate_is_uuid(const char *s);
extern bool momo_validate_is_email(const char *s);
extern void momo_validate_utf8_terms(const MomoPaymentTerms *t);
extern void momo_validate_payment(FunctionCallInfo fcinfo, const MomoConfig *cfg,
								  MomoPaymentTerms *terms, int version_argno, int idtype_argno,
								  int callback_argno);
extern void momo_validate_cash_transfer(FunctionCallInfo fcinfo, const MomoConfig *cfg,
										MomoPaymentTerms *terms);
extern void momo_validate_invoice(FunctionCallInfo fcinfo, const MomoConfig *cfg,
								  MomoPaymentTerms *terms);
extern void momo_validate_create_payment(FunctionCallInfo fcinfo, const MomoConfig *cfg,
										 MomoPaymentTerms *terms);
extern void momo_validate_preapproval(FunctionCallInfo fcinfo, const MomoConfig *cfg,
									  MomoPaymentTerms *terms);
extern void momo_validate_refund(FunctionCallInfo fcinfo, const MomoConfig *cfg,
								 const char *currency, MomoPaymentTerms *terms);
extern char *momo_validate_message(FunctionCallInfo fcinfo, int argno, const char *name);
extern char *momo_validate_currency(FunctionCallInfo fcinfo, int argno, const MomoConfig *cfg);
extern char *momo_validate_language(FunctionCallInfo fcinfo, int argno);
extern char *momo_validate_account_holder(FunctionCallInfo fcinfo, int product_argno, int idtype_argno,
										  const unsigned *product_allowed, const char *what,
										  MomoProduct *product, MomoIdType *type);
extern char *momo_validate_consent(FunctionCallInfo fcinfo, char **scope, MomoProduct *product,
								   long *timeout_ms);
extern MomoProduct momo_validate_product(FunctionCallInfo fcinfo, int argno);
extern int	momo_validate_pause(FunctionCallInfo fcinfo, int reason_argno, int product_argno,
								char **reason);
extern void momo_validate_require_arg(FunctionCallInfo fcinfo, int argno, const char *name);

#endif							/* MOMO_VALIDATE_H */
