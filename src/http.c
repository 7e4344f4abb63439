/*-------------------------------------------------------------------------
 *
 * http.c
 *	  The HTTP client: runs any number of requests concurrently through one
 *	  libcurl multi handle per process, which keeps connections alive
 *	  between calls.  TLS peer and host verification are always on, redirects
 *	  are never followed, response bodies are capped, and a query cancel or
 *	  shutdown request aborts the transfers promptly.
 *
 *	  Requests are started one by one (momo_http_start) and driven by
 *	  momo_http_step, which hands each finished one back: the caller keeps
 *	  as many in flight as it likes and adds new ones whenever it likes, so
 *	  a slow request holds up only itself (the worker's pipeline, its access
 *	  tokens included).  A single request (momo_http_perform: a backend's
 *	  access tokens, the calls of SQL functions) runs on a multi handle of
 *	  its own, so that it can be made while other transfers are in flight
 *	  without taking their answers.
 *
 *	  Trust: the system's CAs (libcurl's default bundle and directory, and
 *	  OpenSSL's default verify locations: the system bundle and directory,
 *	  or SSL_CERT_FILE and SSL_CERT_DIR when the server's environment sets
 *	  them), to which momo.ca_file adds its own.  With libcurl on OpenSSL,
 *	  they are loaded once into one certificate store that every TLS
 *	  connection of the process shares (trust_store): loading and decoding
 *	  the system bundle for each new connection cost milliseconds of CPU
 *	  each, and the worker opens one per slot.  The store is made again when
 *	  momo.ca_file names another file or the file changes, and once a day
 *	  (as libcurl's own CA cache, CURLOPT_CA_CACHE_TIMEOUT).
 *
 *	  Memory: response buffers are palloc'd in the request's context;
 *	  libcurl owns its handles, which are always returned to the pool, also
 *	  when an ERROR interrupts a request (momo_http_perform returns its
 *	  handle; after an ERROR the caller of momo_http_start calls
 *	  momo_http_abandon).
 *
 *	  While it waits for answers, the process shows the wait in
 *	  pg_stat_activity (MOMO_WAIT_NETWORK, see momo.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>

#include "miscadmin.h"
#include "utils/memutils.h"
#include "utils/wait_event.h"

#include "http.h"
#include "momo.h"
#include "version.h"

struct MomoHttpClient
{
	CURLM	   *multi;			/* requests started by momo_http_start */
	CURLM	   *single;			/* the one request of momo_http_perform */
	CURL	  **idle;			/* reusable easy handles */
	int			nidle;
	int			maxidle;
	MomoHttpRequest **active;	/* in flight on multi (see momo_http_abandon) */
	int			nactive;
	int			maxactive;
	bool		openssl;		/* libcurl's TLS backend is OpenSSL */
};

static MomoHttpClient *process_client = NULL;

/* Returns the process's HTTP client, creating it (and initialising libcurl) on first use. */
MomoHttpClient *
momo_http_client(void)
{
	CURLcode	rc;
	MomoHttpClient *c;
	curl_version_info_data *vi;

	if (process_client)
		return process_client;

	rc = curl_global_init(CURL_GLOBAL_ALL);
	if (rc != CURLE_OK)
		ereport(ERROR,
				(errcode(ERRCODE_SYSTEM_ERROR),
				 errmsg("could not initialise libcurl: %s", curl_easy_strerror(rc))));

	c = MemoryContextAllocZero(TopMemoryContext, sizeof(MomoHttpClient));
	c->multi = curl_multi_init();
	c->single = curl_multi_init();
	if (c->multi == NULL || c->single == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not create a libcurl multi handle")));
	c->maxidle = 1024;
	c->idle = MemoryContextAllocZero(TopMemoryContext, sizeof(CURL *) * c->maxidle);
	c->maxactive = 64;
	c->active = MemoryContextAllocZero(TopMemoryContext, sizeof(MomoHttpRequest *) * c->maxactive);
	vi = curl_version_info(CURLVERSION_NOW);
	c->openssl = (vi != NULL && vi->ssl_version != NULL &&
				  pg_strncasecmp(vi->ssl_version, "OpenSSL/", 8) == 0);
	process_client = c;
	return c;
}

/* Makes a request in the current memory context. */
MomoHttpRequest *
momo_http_request(bool post, char *url)
{
	MomoHttpRequest *req = palloc0(sizeof(MomoHttpRequest));

	req->post = post;
	req->url = url;
	req->cxt = CurrentMemoryContext;
	return req;
}

/* Adds a header "name: value" to a request. */
void
momo_http_header(MomoHttpRequest *req, const char *name, const char *value)
{
	char	   *line = psprintf("%s: %s", name, value);
	struct curl_slist *l = curl_slist_append(req->headers, line);

	/* libcurl copies the string, so ours can go at once. */
	explicit_bzero(line, strlen(line));
	pfree(line);
	if (l == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory building an HTTP request")));
	req->headers = l;
}

/* Releases what a request holds outside palloc (its libcurl header list). */
void
momo_http_request_free(MomoHttpRequest *req)
{
	if (req->headers)
	{
		curl_slist_free_all(req->headers);
		req->headers = NULL;
	}
}

/* libcurl write callback: appends to the request's buffer, refusing oversized bodies. */
static size_t
write_body(char *data, size_t size, size_t nmemb, void *userp)
{
	MomoHttpRequest *req = (MomoHttpRequest *) userp;
	size_t		n = size * nmemb;
	size_t		need = req->response_len + n + 1;
	char	   *buf;

	if (need > MOMO_HTTP_MAX_RESPONSE)
	{
		req->response_too_large = true;
		return 0;				/* makes libcurl fail with CURLE_WRITE_ERROR */
	}
	/* No ereport inside a libcurl callback: allocation failure aborts the transfer. */
	if (need > req->response_cap)
	{
		size_t		cap = Max(need * 2, 1024);

		buf = MemoryContextAllocExtended(req->cxt, cap, MCXT_ALLOC_NO_OOM);
		if (buf == NULL)
			return 0;
		if (req->response)
		{
			memcpy(buf, req->response, req->response_len);
			pfree(req->response);
		}
		req->response = buf;
		req->response_cap = cap;
	}
	buf = req->response;
	memcpy(buf + req->response_len, data, n);
	req->response = buf;
	req->response_len += n;
	buf[req->response_len] = '\0';
	return n;
}

/* libcurl progress callback: aborts transfers when the process has an interrupt pending. */
static int
check_interrupts(void *clientp pg_attribute_unused(),
				 curl_off_t dltotal pg_attribute_unused(),
				 curl_off_t dlnow pg_attribute_unused(),
				 curl_off_t ultotal pg_attribute_unused(),
				 curl_off_t ulnow pg_attribute_unused())
{
	return (InterruptPending && (QueryCancelPending || ProcDiePending)) ? 1 : 0;
}

/*
 * The certificate store shared by the process's TLS connections (see the
 * file header), what it was made from, and when.
 */
static X509_STORE *trust_cache = NULL;
static char trust_cache_file[MAXPGPATH];	/* momo.ca_file, "" for none */
static struct stat trust_cache_stat;	/* of that file, when it was loaded */
static pg_time_t trust_cache_made;

/* How long a shared certificate store is used before it is made again. */
#define TRUST_STORE_LIFETIME_S (24 * 60 * 60)

/* Loads a CA file or directory into store; false with OpenSSL's reason in why. */
static bool
trust_load(X509_STORE *store, const char *file, const char *dir, char *why, size_t len)
{
	unsigned long e;
	int			ok;

	ERR_clear_error();
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
	ok = file ? X509_STORE_load_file(store, file) : X509_STORE_load_path(store, dir);
#else
	ok = X509_STORE_load_locations(store, file, dir);
#endif
	if (ok == 1)
		return true;
	e = ERR_get_error();
	snprintf(why, len, "%s", e != 0 ? ERR_reason_error_string(e) : "unknown OpenSSL error");
	ERR_clear_error();
	return false;
}

/*
 * Returns the certificate store for connections made with momo.ca_file =
 * ca_file (NULL: none), made now if the one kept was made from another
 * file, the file changed or the store's day is over; NULL if it cannot be
 * made, with the reason in why.  Called inside libcurl: no ereport, no
 * palloc.
 */
static X509_STORE *
trust_store(const char *ca_file, char *why, size_t len)
{
	const char *file = ca_file ? ca_file : "";
	struct stat sb;
	bool		have_stat = (ca_file != NULL && stat(ca_file, &sb) == 0);
	pg_time_t	now = (pg_time_t) time(NULL);
	curl_version_info_data *vi = curl_version_info(CURLVERSION_NOW);
	X509_STORE *store;
	char		reason[200];

	if (trust_cache != NULL && strcmp(trust_cache_file, file) == 0 &&
		now - trust_cache_made < TRUST_STORE_LIFETIME_S &&
		(ca_file == NULL ||
		 (have_stat && sb.st_ino == trust_cache_stat.st_ino && sb.st_dev == trust_cache_stat.st_dev &&
		  sb.st_size == trust_cache_stat.st_size && sb.st_mtime == trust_cache_stat.st_mtime)))
		return trust_cache;

	if ((store = X509_STORE_new()) == NULL)
	{
		snprintf(why, len, "could not make a certificate store: out of memory");
		return NULL;
	}
	/* libcurl's compiled-in bundle and directory, where it has them and they exist */
	if (vi != NULL && vi->cainfo != NULL && access(vi->cainfo, R_OK) == 0)
		(void) trust_load(store, vi->cainfo, NULL, reason, sizeof(reason));
	if (vi != NULL && vi->capath != NULL && access(vi->capath, R_OK) == 0)
		(void) trust_load(store, NULL, vi->capath, reason, sizeof(reason));
	ERR_clear_error();
	if (X509_STORE_set_default_paths(store) != 1)
	{
		unsigned long e = ERR_get_error();

		snprintf(why, len, "could not load the system's CA certificates: %s",
				 e != 0 ? ERR_reason_error_string(e) : "unknown OpenSSL error");
		ERR_clear_error();
		X509_STORE_free(store);
		return NULL;
	}
	if (ca_file != NULL && !trust_load(store, ca_file, NULL, reason, sizeof(reason)))
	{
		snprintf(why, len, "could not load momo.ca_file \"%s\": %s", ca_file, reason);
		X509_STORE_free(store);
		return NULL;
	}

	/* The connections made with the old one keep it until they close. */
	if (trust_cache != NULL)
		X509_STORE_free(trust_cache);
	trust_cache = store;
	strlcpy(trust_cache_file, file, sizeof(trust_cache_file));
	if (have_stat)
		trust_cache_stat = sb;
	else
		memset(&trust_cache_stat, 0, sizeof(trust_cache_stat));
	trust_cache_made = now;
	return store;
}

/*
 * libcurl TLS-context callback (libcurl on OpenSSL): gives the connection
 * the shared certificate store, in place of the one libcurl would load for
 * it.  No ereport here: a failure fails the transfer, with the reason in
 * req->tls_error.
 */
static CURLcode
use_trust_store(CURL *easy pg_attribute_unused(), void *sslctx, void *userp)
{
	MomoHttpRequest *req = (MomoHttpRequest *) userp;
	X509_STORE *store = trust_store(req->ca_file, req->tls_error, sizeof(req->tls_error));

	if (store == NULL)
		return CURLE_SSL_CACERT_BADFILE;
	SSL_CTX_set1_cert_store((SSL_CTX *) sslctx, store);
	return CURLE_OK;
}

/* Sets one easy option, raising an ERROR if libcurl refuses it. */
#define SETOPT(easy, opt, val) \
	do { \
		CURLcode _rc = curl_easy_setopt((easy), (opt), (val)); \
		if (_rc != CURLE_OK) \
			ereport(ERROR, \
					(errcode(ERRCODE_SYSTEM_ERROR), \
					 errmsg("libcurl refused option %s: %s", #opt, curl_easy_strerror(_rc)))); \
	} while (0)

/* Takes an easy handle from the pool (or makes one) and configures it for req. */
static void
prepare_easy(MomoHttpClient *c, const MomoConfig *cfg, MomoHttpRequest *req)
{
	CURL	   *easy;

	if (c->nidle > 0)
	{
		easy = c->idle[--c->nidle];
		curl_easy_reset(easy);
	}
	else if ((easy = curl_easy_init()) == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("could not create a libcurl handle")));
	req->easy = easy;
	req->status = 0;
	req->result = CURLE_OK;
	req->error[0] = '\0';
	req->response_len = 0;
	req->response_too_large = false;
	req->tls_error[0] = '\0';
	if (req->response)
		req->response[0] = '\0';

	SETOPT(easy, CURLOPT_URL, req->url);
	SETOPT(easy, CURLOPT_PRIVATE, req);
	SETOPT(easy, CURLOPT_ERRORBUFFER, req->error);
	SETOPT(easy, CURLOPT_WRITEFUNCTION, write_body);
	SETOPT(easy, CURLOPT_WRITEDATA, req);
	SETOPT(easy, CURLOPT_NOSIGNAL, 1L);
	SETOPT(easy, CURLOPT_NOPROGRESS, 0L);
	SETOPT(easy, CURLOPT_XFERINFOFUNCTION, check_interrupts);
	SETOPT(easy, CURLOPT_XFERINFODATA, req);
	SETOPT(easy, CURLOPT_CONNECTTIMEOUT_MS, (long) momo_connect_timeout_ms);
	SETOPT(easy, CURLOPT_TIMEOUT_MS, (long) momo_request_timeout_ms);
	SETOPT(easy, CURLOPT_FOLLOWLOCATION, 0L);
	SETOPT(easy, CURLOPT_MAXFILESIZE, (long) MOMO_HTTP_MAX_RESPONSE);
	SETOPT(easy, CURLOPT_SSL_VERIFYPEER, 1L);
	SETOPT(easy, CURLOPT_SSL_VERIFYHOST, 2L);
	SETOPT(easy, CURLOPT_PROTOCOLS_STR, cfg->production ? "https" : "http,https");
	SETOPT(easy, CURLOPT_TCP_KEEPALIVE, 1L);
	SETOPT(easy, CURLOPT_USERAGENT, MOMO_USER_AGENT);
	/* The callback hands libcurl's SSL_CTX to OpenSSL: nothing else will do. */
	if (cfg->ca_file && !c->openssl)
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("momo.ca_file needs libcurl built with OpenSSL"),
				 errdetail("This libcurl uses %s.", curl_version_info(CURLVERSION_NOW)->ssl_version),
				 errhint("Install libcurl4-openssl-dev and rebuild momo, or leave momo.ca_file unset.")));
	if (c->openssl)
	{
		/*
		 * The shared store replaces what libcurl would load: it loads no
		 * bundle or directory of its own, only momo.ca_file.  That file is
		 * still named to libcurl, which then reuses a connection only for
		 * requests made with the same momo.ca_file: one verified with a CA
		 * that was since removed from the setting is not used again.
		 */
		req->ca_file = cfg->ca_file ? MemoryContextStrdup(req->cxt, cfg->ca_file) : NULL;
		SETOPT(easy, CURLOPT_CAINFO, req->ca_file);
		SETOPT(easy, CURLOPT_CAPATH, (char *) NULL);
		SETOPT(easy, CURLOPT_SSL_CTX_FUNCTION, use_trust_store);
		SETOPT(easy, CURLOPT_SSL_CTX_DATA, req);
	}
	if (req->headers)
		SETOPT(easy, CURLOPT_HTTPHEADER, req->headers);
	if (req->userpwd)
	{
		SETOPT(easy, CURLOPT_HTTPAUTH, (long) CURLAUTH_BASIC);
		SETOPT(easy, CURLOPT_USERPWD, req->userpwd);
	}
	if (req->post)
	{
		/* A bodyless POST still carries Content-Length: 0, as MTN requires. */
		SETOPT(easy, CURLOPT_POST, 1L);
		SETOPT(easy, CURLOPT_POSTFIELDS, req->body ? req->body : "");
		SETOPT(easy, CURLOPT_POSTFIELDSIZE, (long) (req->body ? strlen(req->body) : 0));
	}
	else
		SETOPT(easy, CURLOPT_HTTPGET, 1L);
	/* Set every time: a pooled handle keeps the method of its last request. */
	SETOPT(easy, CURLOPT_CUSTOMREQUEST, req->method);
}

/* Returns an easy handle to the pool, forgetting the request it served. */
static void
release_easy(MomoHttpClient *c, MomoHttpRequest *req)
{
	CURL	   *easy = req->easy;

	if (easy == NULL)
		return;
	req->easy = NULL;
	/* Drop references to the request's memory before the handle idles. */
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(easy, CURLOPT_USERPWD, NULL);
	if (c->nidle < c->maxidle)
		c->idle[c->nidle++] = easy;
	else
		curl_easy_cleanup(easy);
}

/* Records the outcome of a finished transfer in its request. */
static void
finish_request(MomoHttpRequest *req, CURLcode result)
{
	long		code = 0;
	double		total = 0;
	curl_off_t	pretransfer = 0;

	req->result = result;
	if (curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &code) != CURLE_OK)
		code = 0;
	if (curl_easy_getinfo(req->easy, CURLINFO_TOTAL_TIME, &total) != CURLE_OK)
		total = 0;
	/* A body cut short is no answer: only a complete transfer has a status. */
	req->status = (result == CURLE_OK) ? code : 0;
	req->elapsed = total;
	/* Zero until the connection (and TLS session) was up and sending could begin. */
	if (curl_easy_getinfo(req->easy, CURLINFO_PRETRANSFER_TIME_T, &pretransfer) != CURLE_OK)
		pretransfer = 1;		/* unknown: assume it may have been sent */
	req->request_started = (pretransfer > 0);
	if (result != CURLE_OK && req->tls_error[0] != '\0')
		strlcpy(req->error, req->tls_error, sizeof(req->error));
	if (result != CURLE_OK && req->error[0] == '\0')
		strlcpy(req->error, curl_easy_strerror(result), sizeof(req->error));
}

/*
 * Runs one request alone on the client's single multi handle.  The handle
 * is removed and returned to the pool, also after an ERROR (a query cancel,
 * say): `added` changes inside PG_TRY and is read in PG_CATCH, so it is
 * volatile.  (PG_CATCH rather than PG_FINALLY: gcc -Wclobbered takes
 * PG_FINALLY's own flag for a clobbered variable here.)
 */
static void
run_alone(MomoHttpClient *c, const MomoConfig *cfg, MomoHttpRequest *req)
{
	volatile bool added = false;

	PG_TRY();
	{
		CURLMcode	mrc;
		int			running = 1;
		bool		finished = false;

		prepare_easy(c, cfg, req);
		mrc = curl_multi_add_handle(c->single, req->easy);
		if (mrc != CURLM_OK)
			elog(ERROR, "curl_multi_add_handle failed: %s", curl_multi_strerror(mrc));
		added = true;
		for (;;)
		{
			CURLMsg    *msg;
			int			queued;

			mrc = curl_multi_perform(c->single, &running);
			if (mrc != CURLM_OK)
				elog(ERROR, "curl_multi_perform failed: %s", curl_multi_strerror(mrc));
			while ((msg = curl_multi_info_read(c->single, &queued)) != NULL)
			{
				if (msg->msg == CURLMSG_DONE && msg->easy_handle == req->easy)
				{
					finish_request(req, msg->data.result);
					finished = true;
				}
			}
			CHECK_FOR_INTERRUPTS();
			if (finished)
				break;

			/*
			 * The wait on the network, shown in pg_stat_activity.  Nothing in
			 * between raises an error (momo's libcurl callbacks never do), so
			 * its end is always reported.
			 */
			pgstat_report_wait_start(momo_wait_event(MOMO_WAIT_NETWORK));
			mrc = curl_multi_poll(c->single, NULL, 0, 100, NULL);
			pgstat_report_wait_end();
			if (mrc != CURLM_OK)
				elog(ERROR, "curl_multi_poll failed: %s", curl_multi_strerror(mrc));
		}
	}
	PG_CATCH();
	{
		if (added)
			(void) curl_multi_remove_handle(c->single, req->easy);
		release_easy(c, req);
		PG_RE_THROW();
	}
	PG_END_TRY();
	(void) curl_multi_remove_handle(c->single, req->easy);
	release_easy(c, req);
}

/*
 * Runs one request alone, then releases its header list; the outcome is in
 * the request.  It may be made while requests started by momo_http_start
 * are in flight: it has a multi handle of its own.  (PG_CATCH rather than
 * PG_FINALLY: gcc -Wclobbered takes PG_FINALLY's own flag for a clobbered
 * variable here.)
 */
void
momo_http_perform(MomoHttpClient *c, const MomoConfig *cfg, MomoHttpRequest *req)
{
	PG_TRY();
	{
		run_alone(c, cfg, req);
	}
	PG_CATCH();
	{
		momo_http_request_free(req);
		PG_RE_THROW();
	}
	PG_END_TRY();
	momo_http_request_free(req);
}

/*
 * Starts a request on the client's multi handle; momo_http_step drives it
 * and hands it back when it has finished.  At most max_in_flight requests
 * share connections to one host (the caller keeps no more in flight).
 */
void
momo_http_start(MomoHttpClient *c, const MomoConfig *cfg, MomoHttpRequest *req,
				int max_in_flight)
{
	CURLMcode	mrc;

	mrc = curl_multi_setopt(c->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long) Max(max_in_flight, 1));
	if (mrc != CURLM_OK)
		elog(ERROR, "curl_multi_setopt failed: %s", curl_multi_strerror(mrc));
	if (c->nactive == c->maxactive)
	{
		c->active = repalloc(c->active, sizeof(MomoHttpRequest *) * c->maxactive * 2);
		c->maxactive *= 2;
	}
	/* Listed before its handle exists, so that momo_http_abandon returns it. */
	req->active_index = c->nactive;
	c->active[c->nactive++] = req;
	prepare_easy(c, cfg, req);
	mrc = curl_multi_add_handle(c->multi, req->easy);
	if (mrc != CURLM_OK)
		elog(ERROR, "curl_multi_add_handle failed: %s", curl_multi_strerror(mrc));
}

/* Returns how many requests started by momo_http_start have not been handed back. */
int
momo_http_in_flight(MomoHttpClient *c)
{
	return c->nactive;
}

/* Takes a request off the list of those in flight, and returns its handle to the pool. */
static void
untrack(MomoHttpClient *c, MomoHttpRequest *req)
{
	int			i = req->active_index;

	Assert(i >= 0 && i < c->nactive && c->active[i] == req);
	if (req->easy)
		(void) curl_multi_remove_handle(c->multi, req->easy);
	release_easy(c, req);
	c->active[i] = c->active[--c->nactive];
	c->active[i]->active_index = i;
	req->active_index = -1;
}

/*
 * Drives the requests in flight: waits at most timeout_ms for the network
 * (not at all when one has finished already), then calls done for each
 * request that has finished, outside any libcurl callback.  done may start
 * new requests, use SPI and raise errors (the caller then calls
 * momo_http_abandon).  Returns how many finished.
 */
int
momo_http_step(MomoHttpClient *c, long timeout_ms, MomoHttpDone done, void *arg)
{
	CURLMcode	mrc;
	CURLMsg    *msg;
	int			running = 0;
	int			queued;
	int			finished = 0;

	mrc = curl_multi_perform(c->multi, &running);
	if (mrc != CURLM_OK)
		elog(ERROR, "curl_multi_perform failed: %s", curl_multi_strerror(mrc));
	if (running >= c->nactive && c->nactive > 0 && timeout_ms > 0)
	{
		/*
		 * Nothing finished: the wait on the network, shown in
		 * pg_stat_activity.  Nothing in between raises an error.
		 */
		pgstat_report_wait_start(momo_wait_event(MOMO_WAIT_NETWORK));
		mrc = curl_multi_poll(c->multi, NULL, 0, (int) Min(timeout_ms, 1000L), NULL);
		pgstat_report_wait_end();
		if (mrc != CURLM_OK)
			elog(ERROR, "curl_multi_poll failed: %s", curl_multi_strerror(mrc));
		mrc = curl_multi_perform(c->multi, &running);
		if (mrc != CURLM_OK)
			elog(ERROR, "curl_multi_perform failed: %s", curl_multi_strerror(mrc));
	}
	while ((msg = curl_multi_info_read(c->multi, &queued)) != NULL)
	{
		MomoHttpRequest *req;

		if (msg->msg != CURLMSG_DONE)
			continue;
		if (curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **) &req) != CURLE_OK)
			elog(ERROR, "lost track of an HTTP transfer");
		finish_request(req, msg->data.result);
		untrack(c, req);
		finished++;
		done(req, arg);
	}
	return finished;
}

/*
 * Takes req, if momo_http_start listed it, off the requests in flight: its
 * transfer stops, its handle goes back to the pool, and it is never handed
 * back (after an ERROR that interrupted its start, say).
 */
void
momo_http_cancel(MomoHttpClient *c, MomoHttpRequest *req)
{
	int			i = req->active_index;

	if (i >= 0 && i < c->nactive && c->active[i] == req)
		untrack(c, req);
	else
		release_easy(c, req);
}

/*
 * Abandons every request in flight (after an ERROR): their transfers stop,
 * their handles go back to the pool, and they are never handed back.
 */
void
momo_http_abandon(MomoHttpClient *c)
{
	while (c->nactive > 0)
		untrack(c, c->active[c->nactive - 1]);
}

/* Describes why a request got no HTTP answer, for last_error and logs. */
char *
momo_http_describe_failure(const MomoHttpRequest *req)
{
	if (req->response_too_large || req->result == CURLE_FILESIZE_EXCEEDED)
		return psprintf("response larger than %d bytes", MOMO_HTTP_MAX_RESPONSE);
	if (req->result == CURLE_OPERATION_TIMEDOUT)
		return psprintf("timed out: %s", req->error);
	return psprintf("%s (curl error %d)", req->error[0] ? req->error : curl_easy_strerror(req->result),
					(int) req->result);
}
