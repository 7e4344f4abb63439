/*-------------------------------------------------------------------------
 *
 * momo.h
 *	  State shared by every momo process: the worker's latch, the access
 *	  token cache and the condition variable that wakes momo_await.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MOMO_H
#define MOMO_H

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
	char		token[MOMO_MAX_TOKEN_LEN];
} MomoTokenSlot;

/* Room for the worker's last problem, as momo_stats and momo_preflight show it. */
#define MOMO_PROBLEM_LEN 256

typedef struct MomoShared
{
	LWLock	   *lock;			/* protects everything below but the CV */
	pid_t		worker_pid;		/* the running worker, or 0 */
	Latch	   *worker_latch;	/* set to wake it */
	char		worker_problem[MOMO_PROBLEM_LEN];	/* why it is not sending, or "" */
	ConditionVariable finished_cv;	/* broadcast when payments became final */
	MomoTokenSlot token[MOMO_N_PRODUCTS];
} MomoShared;

extern MomoShared *momo_shared;

extern void momo_require_preload(void);
extern void momo_wake_worker(void);
extern void momo_wake_worker_at_commit(void);
extern void momo_announce_final_at_commit(void);
extern void momo_announce_final(void);

/* worker.c */
extern PGDLLEXPORT void momo_worker_main(Datum arg);

#endif							/* MOMO_H */
