/*-------------------------------------------------------------------------
 *
 * http.h
 *	  momo's HTTP client: libcurl easy handles driven by one multi handle,
 *	  with TLS verification always on, capped response sizes and no
 *	  redirects.  Knows nothing of MoMo.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MOMO_HTTP_H
#define MOMO_HTTP_H

#include <curl/curl.h>

#include "settings.h"

/* Largest response body momo reads; anything longer is an error. */
#define MOMO_HTTP_MAX_RESPONSE (256 * 1024)

typedef struct MomoHttpRequest
{
	/* set by the caller */
	bool		post;			/* POST (with body, or Content-Length: 0) or GET */
	char	   *url;
	struct curl_slist *headers; /* owned by the request */
	char	   *body;			/* NULL: no body */
	char	   *userpwd;		/* HTTP Basic "user:password", or NULL */
	void	   *context;		/* the caller's */

	/* results */
	long		status;			/* HTTP status; 0 when no answer came */
	CURLcode	result;
	char		error[CURL_ERROR_SIZE];
	char	   *response;		/* NUL-terminated, palloc'd */
	size_t		response_len;
	bool		response_too_large;
	double		elapsed;		/* seconds */
	bool		request_started;	/* connected (and TLS done): the request may have left */

	/* private */
	CURL	   *easy;
	MemoryContext cxt;
	size_t		response_cap;
	char		tls_error[256]; /* why the TLS set-up failed, if it did */
} MomoHttpRequest;

typedef struct MomoHttpClient MomoHttpClient;

/* Called once per finished request, outside any libcurl callback. */
typedef void (*MomoHttpDone) (MomoHttpRequest *req, void *arg);

/*
 * Called after each round of the transfer loop, at least every 100 ms;
 * returns true to start no further request (those in flight finish).
 */
typedef bool (*MomoHttpDrained) (void *arg);

extern MomoHttpClient *momo_http_client(void);
extern MomoHttpRequest *momo_http_request(bool post, char *url);
extern void momo_http_header(MomoHttpRequest *req, const char *name, const char *value);
extern void momo_http_request_free(MomoHttpRequest *req);
extern int	momo_http_run(MomoHttpClient *client, const MomoConfig *cfg,
						  MomoHttpRequest **reqs, int nreqs, int max_in_flight,
						  MomoHttpDone done, MomoHttpDrained drained, void *arg);
extern void momo_http_perform(MomoHttpClient *client, const MomoConfig *cfg,
							  MomoHttpRequest *req);
extern char *momo_http_describe_failure(const MomoHttpRequest *req);

#endif							/* MOMO_HTTP_H */
