/*-------------------------------------------------------------------------
 *
 * api.h
 *	  Conversations with MTN: access tokens shared by all processes, and
 *	  exchanges that send many payment calls at once and report one final
 *	  answer per call.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MOMO_API_H
#define MOMO_API_H

#include "http.h"
#include "protocol.h"

/* One call of an exchange. */
typedef struct MomoCall
{
	MomoOp		op;
	MomoPaymentTerms *terms;
	void	   *context;		/* the caller's */
	/* private */
	MomoAnswer	answer;
} MomoCall;

/* Receives the final answer of each call of an exchange. */
typedef void (*MomoAnswerFn) (MomoCall *call, MomoAnswer *answer, void *arg);

/*
 * Called often while answers come in (at least every 100 ms), and with
 * final = true at the end; returns true (when final is false) to send no
 * further call of the exchange.
 */
typedef bool (*MomoFlushFn) (void *arg, bool final);

extern MomoTokenResult momo_api_get_token(MomoHttpClient *client, const MomoConfig *cfg,
										  const char *refused, char **token, int *key,
										  char **error);
extern MomoTokenResult momo_api_exchange(MomoHttpClient *client, const MomoConfig *cfg,
										 MomoCall *calls, int ncalls, int max_in_flight,
										 MomoAnswerFn fn, MomoFlushFn flush, void *arg,
										 char **error);
extern MomoHttpRequest *momo_api_call(MomoHttpClient *client, const MomoConfig *cfg, bool post,
									  const char *path, const char *body,
									  const char *header_name, const char *header_value);
extern void momo_api_raise_token_error(const MomoConfig *cfg, MomoTokenResult r, const char *error);

#endif							/* MOMO_API_H */
