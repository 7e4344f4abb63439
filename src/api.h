/*-------------------------------------------------------------------------
 *
 * api.h
 *	  Conversations with MTN: access tokens shared by all processes, and
 *	  calls about payments, started one by one and driven together, each
 *	  with one final answer.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MOMO_API_H
#define MOMO_API_H

#include "http.h"
#include "protocol.h"

/* One call to MTN about a payment. */
typedef struct MomoCall
{
	MomoOp		op;
	MomoPaymentTerms *terms;
	void	   *context;		/* the caller's */
	const MomoConfig *cfg;		/* its product's; valid while it is in flight */
	MemoryContext cxt;			/* where its request and answer are made */
	char	   *refused;		/* the token MTN refused on its first try, if it did */
	/* private */
	MomoAnswer	answer;
	char	   *token;			/* of the try in flight */
	int			key;			/* the subscription key it goes with */
} MomoCall;

/* Receives the final answer of each call. */
typedef void (*MomoAnswerFn) (MomoCall *call, MomoAnswer *answer, void *arg);

/* Hears of the end of a token fetch in the background (momo_api_background_tokens). */
typedef void (*MomoTokenDoneFn) (const MomoConfig *cfg, MomoTokenResult r, const char *error,
								 void *arg);

/*
 * Says whether call, answered 401 and about to be repeated with a new token,
 * may be repeated now (false: it is given back unsent, see MomoAnswer).
 */
typedef bool (*MomoRepeatFn) (MomoCall *call, void *arg);

extern void momo_api_background_tokens(MomoTokenDoneFn fn, MomoRepeatFn may_repeat);
extern int	momo_api_fetching_tokens(void);
extern void momo_api_abandon(MomoHttpClient *client);
extern MomoTokenResult momo_api_get_token(MomoHttpClient *client, const MomoConfig *cfg,
										  const char *refused, char **token, int *key,
										  char **error);
extern MomoTokenResult momo_api_start(MomoHttpClient *client, MomoCall *call, int max_in_flight,
									  char **error);
extern int	momo_api_step(MomoHttpClient *client, long timeout_ms, int max_in_flight,
						  MomoAnswerFn fn, void *arg);
extern MomoTokenResult momo_api_exchange(MomoHttpClient *client, const MomoConfig *cfg,
										 MomoCall *calls, int ncalls, int max_in_flight,
										 MomoAnswerFn fn, void *arg, char **error);
extern MomoHttpRequest *momo_api_call(MomoHttpClient *client, const MomoConfig *cfg, bool post,
									  const char *path, const char *body,
									  const char *const *headers);
extern void momo_api_require_read_write(void);
extern MomoHttpRequest *momo_api_call_method(MomoHttpClient *client, const MomoConfig *cfg,
											 const char *method, const char *path,
											 const char *body, const char *const *headers);
extern void momo_api_raise_token_error(const MomoConfig *cfg, MomoTokenResult r, const char *error);

#endif							/* MOMO_API_H */
