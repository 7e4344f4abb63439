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
	const char *method;			/* another method with post's body (DELETE), or
								 * NULL */
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
	int			active_index;	/* in the client's list of requests in flight */
	char		tls_error[256]; /* why the TLS set-up failed, if it did */
	char	   *ca_file;		/* momo.ca_file as the request was made with, or NULL */
} MomoHttpRequest;

typedef struct MomoHttpClient MomoHttpClient;

/* Called once per finished request, outside any libcurl callback (momo_http_step). */
typedef void (*MomoHttpDone) (MomoHttpRequest *req, void *arg);

extern MomoHttpClient *momo_http_client(void);
extern MomoHttpRequest *momo_http_request(bool post, char *url);
extern void momo_http_header(MomoHttpRequest *req, const char *name, const char *value);
extern void momo_http_request_free(MomoHttpRequest *req);
extern void momo_http_start(MomoHttpClient *client, const MomoConfig *cfg,
							MomoHttpRequest *req, int max_in_flight);
extern int	momo_http_step(MomoHttpClient *client, long timeout_ms, MomoHttpDone done, void *arg);
extern int	momo_http_in_flight(MomoHttpClient *client);
extern void momo_http_abandon(MomoHttpClient *client);
extern void momo_http_cancel(MomoHttpClient *client, MomoHttpRequest *req);
extern void momo_http_perform(MomoHttpClient *client, const MomoConfig *cfg,
							  MomoHttpRequest *req);
extern char *momo_http_describe_failure(const MomoHttpRequest *req);

#endif							/* MOMO_HTTP_H */
