/*
 * bench/ceiling.c -- the throughput ceiling for momo's worker: a plain
 * libcurl multi client that sends request-to-pay POSTs to a MoMo API (the
 * test sandbox) as fast as it can, with at most C requests in flight and
 * connections reused, and prints
 *
 *     ceiling: N requests in S s = R req/s
 *     ceiling: cpu U s (user + system, /proc/self/stat) = X us/request
 *
 * It first gets a token (POST {base}/collection/token/, Basic auth), then
 * sends N POSTs to {base}/collection/v1_0/requesttopay, each with a fresh
 * X-Reference-Id (uuid v4), and checks that every answer is 202 Accepted.
 * Exit status: 0 when all N answers were 202, 1 otherwise, 2 on bad usage.
 *
 * usage: ceiling [-u BASE_URL] [-a CA_FILE] [-n N] [-c C] [-k SUBSCRIPTION_KEY]
 *                [-U API_USER] [-K API_KEY] [-e TARGET_ENV] [-b CALLBACK_URL]
 *                [-2] [-v]
 * Defaults are the test harness's (README, "Developing offline"): https://localhost:18443,
 * /tmp/momo-test/ca/ca.pem, N=10000, C=32, the primary subscription key and
 * the test api user/key, target environment "sandbox", HTTP/1.1.
 */
#include <curl/curl.h>

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

struct options
{
	const char *base_url;
	const char *ca_file;
	long		n;
	long		concurrency;
	const char *subscription_key;
	const char *api_user;
	const char *api_key;
	const char *target_env;
	const char *callback_url;
	int			http2;
	int			verbose;
};

/* one in-flight request slot; its easy handle is reused for later requests */
struct slot
{
	CURL	   *easy;
	struct curl_slist *headers;
	long		index;			/* request number, 1-based */
	char		body[512];
	char		error[CURL_ERROR_SIZE];
};

/* a growing buffer for the token answer */
struct buffer
{
	char	   *data;
	size_t		len;
};

static double
now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static size_t
discard_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	(void) ptr;
	(void) userdata;
	return size * nmemb;
}

static size_t
collect_body(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct buffer *buf = userdata;
	size_t		n = size * nmemb;
	char	   *grown = realloc(buf->data, buf->len + n + 1);

	if (grown == NULL)
		return 0;
	buf->data = grown;
	memcpy(buf->data + buf->len, ptr, n);
	buf->len += n;
	buf->data[buf->len] = '\0';
	return n;
}

/* fresh random uuid v4, lower-case, into out[37] */
static void
uuid_v4(char out[37])
{
	unsigned char b[16];
	size_t		got = 0;

	while (got < sizeof(b))
	{
		ssize_t		r = getrandom(b + got, sizeof(b) - got, 0);

		if (r < 0)
		{
			if (errno == EINTR)
				continue;
			perror("getrandom");
			exit(1);
		}
		got += (size_t) r;
	}
	b[6] = (unsigned char) ((b[6] & 0x0f) | 0x40);	/* version 4 */
	b[8] = (unsigned char) ((b[8] & 0x3f) | 0x80);	/* RFC 4122 variant */
	snprintf(out, 37,
			 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
			 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
			 b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

/* settings shared by the token request and the request-to-pay requests */
static void
common_setopt(CURL *easy, const struct options *o, char *errbuf)
{
	curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(easy, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(easy, CURLOPT_HTTP_VERSION,
					 o->http2 ? CURL_HTTP_VERSION_2TLS : CURL_HTTP_VERSION_1_1);
	if (o->ca_file && o->ca_file[0])
		curl_easy_setopt(easy, CURLOPT_CAINFO, o->ca_file);
	curl_easy_setopt(easy, CURLOPT_VERBOSE, o->verbose > 1 ? 1L : 0L);
}

/* POST {base}/collection/token/ and return the access_token (malloc'd) */
static char *
get_token(const struct options *o)
{
	CURL	   *easy = curl_easy_init();
	struct curl_slist *headers = NULL;
	struct buffer answer = {NULL, 0};
	char		errbuf[CURL_ERROR_SIZE] = "";
	char		url[1024];
	char		header[256];
	char	   *token = NULL;
	long		status = 0;
	CURLcode	rc;

	if (easy == NULL)
	{
		fprintf(stderr, "ceiling: curl_easy_init failed\n");
		exit(1);
	}
	snprintf(url, sizeof(url), "%s/collection/token/", o->base_url);
	snprintf(header, sizeof(header), "Ocp-Apim-Subscription-Key: %s", o->subscription_key);
	headers = curl_slist_append(headers, header);

	common_setopt(easy, o, errbuf);
	curl_easy_setopt(easy, CURLOPT_URL, url);
	curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(easy, CURLOPT_HTTPAUTH, (long) CURLAUTH_BASIC);
	curl_easy_setopt(easy, CURLOPT_USERNAME, o->api_user);
	curl_easy_setopt(easy, CURLOPT_PASSWORD, o->api_key);
	curl_easy_setopt(easy, CURLOPT_POST, 1L);
	curl_easy_setopt(easy, CURLOPT_POSTFIELDS, "");
	curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE, 0L);	/* Content-Length: 0 */
	curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, collect_body);
	curl_easy_setopt(easy, CURLOPT_WRITEDATA, &answer);

	rc = curl_easy_perform(easy);
	if (rc != CURLE_OK)
	{
		fprintf(stderr, "ceiling: token request to %s failed: %s\n", url,
				errbuf[0] ? errbuf : curl_easy_strerror(rc));
		exit(1);
	}
	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
	if (status != 200 || answer.data == NULL)
	{
		fprintf(stderr, "ceiling: token request answered %ld: %s\n", status,
				answer.data ? answer.data : "");
		exit(1);
	}

	/* find "access_token" : "..." without a JSON library */
	{
		char	   *p = strstr(answer.data, "\"access_token\"");
		char	   *end;

		if (p != NULL)
			p = strchr(p + strlen("\"access_token\""), ':');
		if (p != NULL)
			p = strchr(p, '"');
		if (p != NULL && (end = strchr(p + 1, '"')) != NULL)
			token = strndup(p + 1, (size_t) (end - p - 1));
	}
	if (token == NULL || token[0] == '\0')
	{
		fprintf(stderr, "ceiling: no access_token in the token answer: %s\n", answer.data);
		exit(1);
	}

	free(answer.data);
	curl_slist_free_all(headers);
	curl_easy_cleanup(easy);
	return token;
}

/* prepare slot s for request number index and add it to the multi handle */
static void
start_request(CURLM *multi, struct slot *s, long index, const struct options *o,
			  const char *rtp_url, const char *auth_header, const char *key_header,
			  const char *env_header, const char *callback_header)
{
	char		uuid[37];
	char		ref_header[64];

	s->index = index;
	s->error[0] = '\0';
	uuid_v4(uuid);
	snprintf(ref_header, sizeof(ref_header), "X-Reference-Id: %s", uuid);

	curl_slist_free_all(s->headers);
	s->headers = NULL;
	s->headers = curl_slist_append(s->headers, auth_header);
	s->headers = curl_slist_append(s->headers, env_header);
	s->headers = curl_slist_append(s->headers, key_header);
	s->headers = curl_slist_append(s->headers, ref_header);
	if (callback_header != NULL)
		s->headers = curl_slist_append(s->headers, callback_header);
	s->headers = curl_slist_append(s->headers, "Content-Type: application/json");
	s->headers = curl_slist_append(s->headers, "Expect:");
	if (s->headers == NULL)
	{
		fprintf(stderr, "ceiling: out of memory\n");
		exit(1);
	}

	snprintf(s->body, sizeof(s->body),
			 "{\"amount\":\"100\",\"currency\":\"EUR\",\"externalId\":\"bench-%ld\","
			 "\"payer\":{\"partyIdType\":\"MSISDN\",\"partyId\":\"46733000000\"},"
			 "\"payerMessage\":\"bench\",\"payeeNote\":\"bench\"}", index);

	if (s->easy == NULL)
	{
		s->easy = curl_easy_init();
		if (s->easy == NULL)
		{
			fprintf(stderr, "ceiling: curl_easy_init failed\n");
			exit(1);
		}
		common_setopt(s->easy, o, s->error);
		curl_easy_setopt(s->easy, CURLOPT_URL, rtp_url);
		curl_easy_setopt(s->easy, CURLOPT_POST, 1L);
		curl_easy_setopt(s->easy, CURLOPT_WRITEFUNCTION, discard_body);
		curl_easy_setopt(s->easy, CURLOPT_PRIVATE, s);
	}
	curl_easy_setopt(s->easy, CURLOPT_HTTPHEADER, s->headers);
	curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, s->body);
	curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE, (long) strlen(s->body));

	if (curl_multi_add_handle(multi, s->easy) != CURLM_OK)
	{
		fprintf(stderr, "ceiling: curl_multi_add_handle failed\n");
		exit(1);
	}
}

static void
usage(FILE *out)
{
	fprintf(out,
			"usage: ceiling [options]\n"
			"  -u, --url URL               API base URL (default https://localhost:18443)\n"
			"  -a, --cacert FILE           CA file for HTTPS (default /tmp/momo-test/ca/ca.pem)\n"
			"  -n, --requests N            number of request-to-pay POSTs (default 10000)\n"
			"  -c, --concurrency C         at most C requests in flight (default 32)\n"
			"  -k, --subscription-key KEY  Ocp-Apim-Subscription-Key\n"
			"  -U, --api-user UUID         API user (token request)\n"
			"  -K, --api-key KEY           API key (token request)\n"
			"  -e, --target-env ENV        X-Target-Environment (default sandbox)\n"
			"  -b, --callback-url URL      also send X-Callback-Url\n"
			"  -2, --http2                 allow HTTP/2 over TLS (default HTTP/1.1)\n"
			"  -v, --verbose               report failures one by one (twice: curl verbose)\n");
}

static long
parse_positive(const char *arg, const char *what)
{
	char	   *end;
	long		v;

	errno = 0;
	v = strtol(arg, &end, 10);
	if (errno != 0 || *end != '\0' || v <= 0)
	{
		fprintf(stderr, "ceiling: %s must be a positive integer, not \"%s\"\n", what, arg);
		exit(2);
	}
	return v;
}

/*
 * CPU time this process has used (utime + stime of /proc/self/stat, in
 * seconds), the measure bench/run.sh reads for momo's worker; -1 if unknown.
 */
static double
cpu_seconds(void)
{
	FILE	   *f = fopen("/proc/self/stat", "r");
	char		buf[1024];
	char	   *p;
	unsigned long utime,
				stime;
	size_t		len;

	if (f == NULL)
		return -1;
	len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[len] = '\0';
	/* fields 14 and 15; the command name (field 2) may hold spaces */
	p = strrchr(buf, ')');
	if (p == NULL ||
		sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime, &stime) != 2)
		return -1;
	return (double) (utime + stime) / (double) sysconf(_SC_CLK_TCK);
}

int
main(int argc, char **argv)
{
	struct options o = {
		.base_url = "https://localhost:18443",
		.ca_file = "/tmp/momo-test/ca/ca.pem",
		.n = 10000,
		.concurrency = 32,
		.subscription_key = "0b0b0b0b0b0b4b0b8b0b0b0b0b0b0b01",
		.api_user = "5f9b2c7e-3c1a-4d2e-9f10-0a1b2c3d4e5f",
		.api_key = "6a1b2c3d4e5f40718293a4b5c6d7e8f9",
		.target_env = "sandbox",
		.callback_url = NULL,
		.http2 = 0,
		.verbose = 0,
	};
	static const struct option longopts[] = {
		{"url", required_argument, NULL, 'u'},
		{"cacert", required_argument, NULL, 'a'},
		{"requests", required_argument, NULL, 'n'},
		{"concurrency", required_argument, NULL, 'c'},
		{"subscription-key", required_argument, NULL, 'k'},
		{"api-user", required_argument, NULL, 'U'},
		{"api-key", required_argument, NULL, 'K'},
		{"target-env", required_argument, NULL, 'e'},
		{"callback-url", required_argument, NULL, 'b'},
		{"http2", no_argument, NULL, '2'},
		{"verbose", no_argument, NULL, 'v'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	int			opt;
	char	   *base;
	char	   *token;
	char		rtp_url[1024];
	char	   *auth_header;
	char		key_header[256];
	char		env_header[256];
	char	   *callback_header = NULL;
	struct slot *slots;
	CURLM	   *multi;
	long		slot_count;
	long		next = 1;		/* next request number to send */
	long		done = 0;
	long		ok = 0;
	long		failed = 0;
	long		connects = 0;
	double		t0,
				elapsed,
				cpu0,
				cpu;
	int			still_running = 0;

	while ((opt = getopt_long(argc, argv, "u:a:n:c:k:U:K:e:b:2vh", longopts, NULL)) != -1)
	{
		switch (opt)
		{
			case 'u': o.base_url = optarg; break;
			case 'a': o.ca_file = optarg; break;
			case 'n': o.n = parse_positive(optarg, "N"); break;
			case 'c': o.concurrency = parse_positive(optarg, "C"); break;
			case 'k': o.subscription_key = optarg; break;
			case 'U': o.api_user = optarg; break;
			case 'K': o.api_key = optarg; break;
			case 'e': o.target_env = optarg; break;
			case 'b': o.callback_url = optarg; break;
			case '2': o.http2 = 1; break;
			case 'v': o.verbose++; break;
			case 'h': usage(stdout); return 0;
			default: usage(stderr); return 2;
		}
	}
	if (optind != argc)
	{
		usage(stderr);
		return 2;
	}

	/* the base URL without trailing slashes */
	base = strdup(o.base_url);
	while (strlen(base) > 0 && base[strlen(base) - 1] == '/')
		base[strlen(base) - 1] = '\0';
	o.base_url = base;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
	{
		fprintf(stderr, "ceiling: curl_global_init failed\n");
		return 1;
	}

	token = get_token(&o);

	snprintf(rtp_url, sizeof(rtp_url), "%s/collection/v1_0/requesttopay", o.base_url);
	auth_header = malloc(strlen(token) + 32);
	sprintf(auth_header, "Authorization: Bearer %s", token);
	snprintf(key_header, sizeof(key_header), "Ocp-Apim-Subscription-Key: %s", o.subscription_key);
	snprintf(env_header, sizeof(env_header), "X-Target-Environment: %s", o.target_env);
	if (o.callback_url != NULL)
	{
		callback_header = malloc(strlen(o.callback_url) + 32);
		sprintf(callback_header, "X-Callback-Url: %s", o.callback_url);
	}

	slot_count = o.concurrency < o.n ? o.concurrency : o.n;
	slots = calloc((size_t) slot_count, sizeof(struct slot));
	multi = curl_multi_init();
	if (slots == NULL || multi == NULL)
	{
		fprintf(stderr, "ceiling: out of memory\n");
		return 1;
	}
	/* keep one connection per slot open between requests */
	curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, slot_count);
	curl_multi_setopt(multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, slot_count);
	if (o.http2)
		curl_multi_setopt(multi, CURLMOPT_PIPELINING, (long) CURLPIPE_MULTIPLEX);

	t0 = now_seconds();
	cpu0 = cpu_seconds();
	for (long i = 0; i < slot_count; i++)
		start_request(multi, &slots[i], next++, &o, rtp_url, auth_header,
					  key_header, env_header, callback_header);

	while (done < o.n)
	{
		CURLMsg    *msg;
		int			queued;
		CURLMcode	mc;

		mc = curl_multi_perform(multi, &still_running);
		if (mc != CURLM_OK)
		{
			fprintf(stderr, "ceiling: curl_multi_perform: %s\n", curl_multi_strerror(mc));
			return 1;
		}

		while ((msg = curl_multi_info_read(multi, &queued)) != NULL)
		{
			struct slot *s;
			char	   *priv = NULL;
			long		status = 0;
			long		new_conns = 0;

			if (msg->msg != CURLMSG_DONE)
				continue;
			curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
			s = (struct slot *) priv;
			curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &status);
			curl_easy_getinfo(s->easy, CURLINFO_NUM_CONNECTS, &new_conns);
			connects += new_conns;
			done++;

			if (msg->data.result == CURLE_OK && status == 202)
				ok++;
			else
			{
				failed++;
				if (o.verbose || failed <= 5)
				{
					if (msg->data.result != CURLE_OK)
						fprintf(stderr, "ceiling: request %ld failed: %s\n", s->index,
								s->error[0] ? s->error : curl_easy_strerror(msg->data.result));
					else
						fprintf(stderr, "ceiling: request %ld answered %ld, not 202\n",
								s->index, status);
				}
			}

			curl_multi_remove_handle(multi, s->easy);
			if (next <= o.n)
				start_request(multi, s, next++, &o, rtp_url, auth_header,
							  key_header, env_header, callback_header);
		}

		if (done < o.n)
		{
			mc = curl_multi_poll(multi, NULL, 0, 1000, NULL);
			if (mc != CURLM_OK)
			{
				fprintf(stderr, "ceiling: curl_multi_poll: %s\n", curl_multi_strerror(mc));
				return 1;
			}
		}
	}
	elapsed = now_seconds() - t0;
	cpu = cpu_seconds();
	if (cpu >= 0 && cpu0 >= 0)
		cpu -= cpu0;

	printf("ceiling: %ld requests in %.3f s = %.1f req/s\n", o.n, elapsed,
		   elapsed > 0 ? o.n / elapsed : 0.0);
	if (cpu >= 0)
		printf("ceiling: cpu %.2f s (user + system, /proc/self/stat) = %.1f us/request\n",
			   cpu, cpu * 1e6 / o.n);
	printf("ceiling: %ld answered 202, %ld not; concurrency %ld, %ld connections opened\n",
		   ok, failed, slot_count, connects);

	for (long i = 0; i < slot_count; i++)
	{
		if (slots[i].easy != NULL)
			curl_easy_cleanup(slots[i].easy);
		curl_slist_free_all(slots[i].headers);
	}
	curl_multi_cleanup(multi);
	curl_global_cleanup();
	free(slots);
	free(auth_header);
	free(callback_header);
	free(token);
	free(base);
	return failed == 0 ? 0 : 1;
}
