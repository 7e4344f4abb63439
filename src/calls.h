/*-------------------------------------------------------------------------
 *
 * calls.h
 *	  What calls.c offers the rest of momo besides its SQL functions.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MOMO_CALLS_H
#define MOMO_CALLS_H

#include "settings.h"

extern char *momo_calls_registered_callback_host(const MomoConfig *cfg, char **error);

#endif							/* MOMO_CALLS_H */
