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

#include "protocol.h"
#include "settings.h"

extern void momo_validate_payment(FunctionCallInfo fcinfo, const MomoConfig *cfg,
								  MomoPaymentTerms *terms);
extern void momo_validate_refund(FunctionCallInfo fcinfo, const char *currency,
								 MomoPaymentTerms *terms);
extern char *momo_validate_message(FunctionCallInfo fcinfo, int argno, const char *name);
extern char *momo_validate_msisdn(FunctionCallInfo fcinfo, int argno);
extern void momo_validate_require_arg(FunctionCallInfo fcinfo, int argno, const char *name);

#endif							/* MOMO_VALIDATE_H */
