/*-------------------------------------------------------------------------
 *
 * calls.h
 *	  What calls.c offers the rest of momo besides its SQL functions.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MOMO_CALLS_H
#define MOMO_CALLS_H

#include "http.h"
#include "settings.h"

extern char *momo_calls_registered_callback_host(const MomoConfig *cfg, char **error);
extern void momo_calls_raise_failure(const MomoConfig *cfg, const char *what,
									 const MomoHttpRequest *req) pg_attribute_noreturn();

#endif							/* MOMO_CALLS_H */
