/*-------------------------------------------------------------------------
 *
 * momo.h
 *	  State shared by every momo process: the launcher's and each
 *	  database worker's latch and problems, the access token cache, the
 *	  status-check budget and the condition variable that wakes momo_await.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MOMO_H
#define MOMO_H

#include "access/xlogdefs.h"
#include "portability/instr_time.h"
#include "storage/condition_variable.h"
#include "storage/latch.h"
#include "storage/lwlock.h"
#include "utils/timestamp.h"

#include "protocol.h"
#include "settings.h"

/* The cached access token of one product. */
typedef struct MomoTokenSlot
{
	uint32		credentials_hash;	/* of the configuration it was issued for */
	int			key;			/* subscription key in use: 0 primary, 1 secondary */
	TimestampTz expires_at;
	uint64		refreshes;
	uint64		failures;		/* token requests that failed, since the start */
	TimestampTz failed_at;		/* the last failure, or 0 */
	uint32		failed_hash;	/* credentials_hash of the configuration that
								 * failed last */
	TimestampTz failed_since;	/* the first failure since a token was last
								 * obtained, or 0 */
	TimestampTz obtained_at;	/* when a token was last obtained, or 0 */
	uint32		key_switches;	/* switches of key after a refusal (switch_key),
								 * since the start */
	bool		token_refused;	/* token[] is empty because MTN refused it
								 * (forget_token): it is to be replaced */
	char		token[MOMO_MAX_TOKEN_LEN];
} MomoTokenSlot;

/*
 * Callbacks momo ignores, counted in shared memory rather than logged one by
 * one: anyone who knows the callback URL can send them without end.
 */
typedef enum MomoIgnoredCallback
{
	MOMO_CALLBACK_FORGED,		/* no valid reference id, or a wrong signature */
	MOMO_CALLBACK_UNVERIFIED,	/* momo.callback_secret is not set */
	MOMO_CALLBACK_UNKNOWN,		/* signed, for no payment of this database */
	MOMO_CALLBACK_FINAL,		/* signed, for a payment already final */
	MOMO_CALLBACK_DUPLICATE,	/* signed, within the duplicate window */
	MOMO_N_IGNORED_CALLBACKS
} MomoIgnoredCallback;

extern const char *const momo_ignored_callback_names[];

/* Room for a worker's problems, as momo_stats and momo_preflight show them. */
#define MOMO_PROBLEM_LEN 1024

/* Databases to look at again that backends can tell the launcher of at once. */
#define MOMO_LAUNCHER_NOTICES 32

/* Backends that may hold a database's worker off at once (see launcher.c). */
#define MOMO_LAUNCHER_HOLDS 8

/* Databases left without a worker that the launcher names (momo_health). */
#define MOMO_LAUNCHER_UNSERVED 16

/* Why the launcher could not start a database's worker. */
typedef enum MomoUnservedWhy
{
	MOMO_UNSERVED_MAX_DATABASES,	/* momo.max_databases are served */
	MOMO_UNSERVED_NO_BGWORKER	/* no background worker slot was free */
} MomoUnservedWhy;

/*
 * One database served by momo: a slot that the launcher gives a database
 * when it starts a worker there, and frees once that worker has exited
 * (launcher.c).  Protected by MomoShared's lock.
 */
typedef struct MomoDatabase
{
	Oid			dboid;			/* the database, or InvalidOid for a free slot */
	pid_t		worker_pid;		/* its worker once connected, or 0 */
	Latch	   *worker_latch;	/* set to wake that worker (a commit queued
								 * payments), or NULL */
	bool		serving;		/* the worker found momo installed and serves it */
	bool		served;			/* a worker found momo installed, since the slot
								 * was taken (not cleared when it exits) */
	bool		absent;			/* the worker found momo not installed and
								 * exited: the launcher remembers it */
	bool		recheck;		/* DROP EXTENSION momo committed: the worker
								 * looks whether momo is still installed */
	char		worker_problem[MOMO_PROBLEM_LEN];	/* why it is not sending (all
													 * of it), or "" */
	char		worker_unpaused[MOMO_PROBLEM_LEN];	/* the same, but the products
													 * paused (momo_pauses): what
													 * is broken, for momo_health */
	uint64		feed_asked;		/* numberings of the change feed asked for by
								 * polls (momo_feed_ask) */
	uint64		feed_numbered;	/* of those, the last the worker has done
								 * (committed), or given up */
	uint64		pause_changes;	/* commits that changed momo_pauses (or may
								 * have: COMMIT PREPARED), counted after they
								 * are visible; the worker reads the table
								 * again when this moves */
	TimestampTz worker_conf_loaded; /* when the configuration its worker runs
									 * with was loaded (its PgReloadTime, after
									 * each reload): momo_config_loaded() */
} MomoDatabase;

/*
 * A backend about to DROP, rename or move a database: while it holds it,
 * no worker runs there (PostgreSQL refuses those commands while another
 * session is connected).  Protected by MomoShared's lock.
 */
typedef struct MomoHold
{
	Oid			dboid;			/* the database held, or InvalidOid for a free entry */
	pid_t		backend;		/* the backend holding it (a hold of a backend
								 * that is gone counts for nothing) */
} MomoHold;

/*
 * An exchange of a synchronous call with MTN whose caller's transaction
 * aborted, for the database's worker to write to momo_events (events.c).
 */
#define MOMO_PENDING_EVENTS 512

typedef struct MomoPendingEvent
{
	Oid			dboid;			/* the database whose momo_events gets it */
	TimestampTz at;				/* when the exchange happened */
	char		reference_id[37];	/* the payment's, or "" */
	char		product[16];
	char		operation[40];
	int			http_status;	/* 0: no answer */
	char		outcome[16];
	char		reason[101];	/* or "" */
	double		latency_ms;
	char		error[256];		/* or "" */
} MomoPendingEvent;

typedef struct MomoShared
{
	LWLock	   *lock;			/* protects everything below but the CV */
	uint64		callbacks_ignored[MOMO_N_IGNORED_CALLBACKS];	/* by reason, since the start */
	double		check_tokens;	/* status checks allowed now (momo.status_checks_per_second),
								 * one budget for the whole cluster */
	double		backend_tokens; /* of those, what the backends together may take
								 * now: half the rate (see momo_take_status_checks) */
	instr_time	check_refilled; /* when check_tokens was last refilled (monotonic) */
	uint64		forged_unlogged;	/* forged callbacks not logged since the last LOG line */
	TimestampTz forged_logged_at;	/* when a forged callback was last logged, anywhere */
	uint32		forged_in_minute[60];	/* forged callbacks in each of the last 60
										 * minutes (momo_health), by minute mod 60 */
	int64		forged_minute[60];	/* the minute (since the epoch) each of
									 * forged_in_minute counts */
	ConditionVariable finished_cv;	/* broadcast when payments became final (in
									 * any database) */
	ConditionVariable feed_cv;	/* broadcast when a worker has numbered the
								 * change feed (any database) */
	MomoTokenSlot token[MOMO_N_PRODUCTS];	/* shared by every database */
	pid_t		launcher_pid;	/* the running launcher, or 0 */
	Latch	   *launcher_latch; /* set to wake it, or NULL */
	TimestampTz launcher_conf_loaded;	/* when the configuration the launcher
										 * runs with was loaded (its PgReloadTime) */
	Oid			notices[MOMO_LAUNCHER_NOTICES]; /* databases the launcher must
												 * look at again (CREATE
												 * EXTENSION momo, CREATE
												 * DATABASE, a hold released) */
	int			nnotices;		/* how many of notices[] are in use */
	bool		notices_lost;	/* more came than notices[] holds: the
								 * launcher looks at every database again */
	MomoHold	holds[MOMO_LAUNCHER_HOLDS];	/* see MomoHold */
	Oid			unserved[MOMO_LAUNCHER_UNSERVED];	/* databases to serve in which
													 * the launcher could start no
													 * worker (the oldest first) */
	MomoUnservedWhy unserved_why[MOMO_LAUNCHER_UNSERVED];	/* why, for each */
	int			nunserved;		/* how many such databases (more than
								 * unserved[] holds, when it is full) */
	MomoPendingEvent pending_events[MOMO_PENDING_EVENTS];	/* see MomoPendingEvent,
															 * the oldest first */
	int			npending_events;	/* how many of pending_events[] are in use */
	int			ndatabases;		/* length of databases[]: momo.max_databases */
	MomoDatabase databases[FLEXIBLE_ARRAY_MEMBER];	/* see MomoDatabase */
} MomoShared;

extern MomoShared *momo_shared;

/*
 * What a momo process waits for, as pg_stat_activity shows it: wait_event_type
 * "Extension", and on PostgreSQL 17 and later a wait_event of momo's own
 * (custom wait events; named in momo.c), before that "Extension" for all.
 */
typedef enum MomoWaitEvent
{
	MOMO_WAIT_NETWORK,			/* MomoNetwork: an answer from MTN (http.c) */
	MOMO_WAIT_IDLE,				/* MomoIdle: the worker, for work to do */
	MOMO_WAIT_DURABLE,			/* MomoDurable: the worker, for standbys to
								 * confirm a commit (worker.c, wait_durable) */
	MOMO_WAIT_AWAIT,			/* MomoAwait: momo_await, for a payment to be final */
	MOMO_WAIT_STATUS_CHECK,		/* MomoStatusCheck: momo_payment_status, the
								 * balance and account holder calls, for a
								 * GET of the shared budget */
	MOMO_WAIT_FEED,				/* MomoFeed: momo_changes, for the worker to
								 * number committed changes */
	MOMO_WAIT_CONSENT,			/* MomoConsent: momo_user_info_with_consent,
								 * between polls of the OAuth2 token */
	MOMO_N_WAIT_EVENTS
} MomoWaitEvent;

extern void momo_require_preload(void);
extern void momo_wake_worker(void);
extern void momo_wake_worker_at_commit(void);
extern void momo_pauses_changed_at_commit(void);
extern uint64 momo_feed_ask(void);
extern bool momo_feed_numbered(uint64 ticket);
extern void momo_announce_final_at_commit(void);
extern void momo_announce_final(void);
extern bool momo_named_standby_has(XLogRecPtr lsn, bool *connected);
extern uint64 momo_count_ignored_callback(MomoIgnoredCallback why, bool *log_now);
extern uint64 momo_forged_callbacks_last_hour(void);
extern int	momo_take_status_checks(int want, int reserve, bool backend);
extern void momo_return_status_checks(int unused);
extern bool momo_wait_status_check(void);
extern void momo_commit_durably(void);
extern bool momo_durable_apply(void);
extern uint32 momo_wait_event(MomoWaitEvent which);

/* worker.c */
extern PGDLLEXPORT void momo_worker_main(Datum arg);

#endif							/* MOMO_H */
