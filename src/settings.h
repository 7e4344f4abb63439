/*-------------------------------------------------------------------------
 *
 * settings.h
 *	  momo's settings: GUC variables, their environment-variable fallbacks
 *	  and the effective configuration resolved from both.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MOMO_SETTINGS_H
#define MOMO_SETTINGS_H

#define MOMO_SANDBOX_BASE_URL "https://sandbox.momodeveloper.mtn.com"

/* MoMo's products; each has its own credentials. */
typedef enum MomoProduct
{
	MOMO_COLLECTION,
	MOMO_DISBURSEMENT,
	MOMO_REMITTANCE,
	MOMO_N_PRODUCTS
} MomoProduct;

extern const char *const momo_product_names[MOMO_N_PRODUCTS];

/* Settings read directly by other files. */
extern char *momo_database_name;
extern char *momo_databases;
extern int	momo_max_databases;
extern int	momo_connect_timeout_ms;
extern int	momo_request_timeout_ms;
extern int	momo_max_in_flight;
extern int	momo_batch_size;
extern int	momo_max_attempts;
extern int	momo_retry_base_ms;
extern int	momo_retry_max_ms;
extern int	momo_poll_interval_min_ms;
extern int	momo_poll_interval_max_ms;
extern int	momo_status_checks_per_second;
extern int	momo_idle_interval_ms;
extern int	momo_token_refresh_margin_s;
extern double momo_max_amount;
extern int	momo_event_retention_s;
extern int	momo_not_delivered_after_s;
extern int	momo_attention_after_s;
extern int	momo_long_tail_interval_s;
extern char *momo_wait_for_standby;
extern int	momo_wait_for_standby_timeout_ms;
extern int	momo_health_queued_age_s;
extern int	momo_health_pending_age_s;
extern int	momo_health_exchange_age_s;
extern double momo_health_failure_factor;
extern int	momo_health_min_payments;
extern int	momo_health_forged_callbacks;
extern int	momo_health_payer_burst;
extern int	momo_health_near_max;

/*
 * The effective configuration of one product: each value taken from its GUC
 * when that is set, else from the environment variable of the same meaning,
 * else from the default of the chosen environment.  NULL means "not set".
 */
typedef struct MomoConfig
{
	MomoProduct product;		/* whose credentials these are */
	bool		production;
	const char *base_url;		/* without a trailing slash */
	const char *target_environment;
	const char *subscription_key[2];	/* primary, secondary */
	const char *api_user;
	const char *api_key;
	const char *callback_url;
	const char *callback_secret;
	const char *ca_file;
} MomoConfig;

/* A configuration mistake, described for an error report. */
typedef struct MomoConfigProblem
{
	const char *setting;		/* the GUC to fix */
	char	   *message;
	char	   *hint;
} MomoConfigProblem;

struct MomoMarket;
extern const struct MomoMarket *momo_settings_msisdn_market(void);

extern void momo_settings_define(void);
extern void momo_settings_resolve(MomoConfig *cfg, MomoProduct product);
extern bool momo_settings_check(const MomoConfig *cfg, MomoConfigProblem *problem);
extern void momo_settings_require(MomoConfig *cfg, MomoProduct product);
extern uint32 momo_settings_credentials_hash(const MomoConfig *cfg);
extern void momo_settings_credential_names(MomoProduct product, const char **api_user,
										   const char **api_key, const char **key_primary,
										   const char **key_secondary);
/*
 * Most values momo_settings_secret_values() can list: each product's two subscription
 * keys and API key, and the callback secret, each from its GUC and its
 * environment variable.
 */
#define MOMO_MAX_SECRET_VALUES ((MOMO_N_PRODUCTS * 3 + 1) * 2)

extern int	momo_settings_secret_values(const char **values, int max);
extern bool momo_settings_is_secret(const char *name);
extern const char *momo_settings_secret_name_in(const char *text);

/* The host of an http(s) URL (palloc'd), and its port (0 if none); NULL if it has none. */
extern char *momo_settings_url_host(const char *url, int *port);
extern char *momo_settings_url_problem(const char *name, const char *url, bool production,
									   bool is_callback);

#endif							/* MOMO_SETTINGS_H */
