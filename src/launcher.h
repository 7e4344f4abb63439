/*-------------------------------------------------------------------------
 *
 * launcher.h
 *	  momo's launcher, one worker per database momo serves (launcher.c):
 *	  its entry point, what a database's worker calls to take its slot and
 *	  publish its state, and the backends' hooks that tell it of CREATE/DROP
 *	  EXTENSION momo and DROP DATABASE.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MOMO_LAUNCHER_H
#define MOMO_LAUNCHER_H

#include "datatype/timestamp.h"
#include "nodes/nodes.h"

#include "momo.h"

/* The shared memory momo needs, and its launcher part (momo.c's shmem hooks). */
extern Size momo_launcher_shmem_size(void);
extern void momo_launcher_shmem_init(void);

/* The launcher */
extern void momo_launcher_register(void);
extern PGDLLEXPORT void momo_launcher_main(Datum arg);

/* A database's worker (worker.c) */
extern void momo_launcher_attach(Datum arg);
extern bool momo_launcher_extension_gone(void);
extern void momo_launcher_publish_problem(const char *problem, const char *unpaused);
extern uint64 momo_launcher_feed_asked(void);
extern void momo_launcher_feed_numbered(uint64 through);
extern uint64 momo_launcher_pause_changes(void);
extern void momo_launcher_publish_conf_loaded(void);

/* Backends */
extern void momo_launcher_utility_before(Node *parsetree);
extern void momo_launcher_utility_after(Node *parsetree);
extern void momo_launcher_pre_prepare(void);
extern void momo_launcher_xact_end(bool committed);
extern void momo_launcher_pauses_changed(void);
extern bool momo_launcher_serves(char **why, char **hint);
extern pid_t momo_launcher_worker_of(Oid dboid, bool *serving, char *problem, bool unpaused);

/* A database's worker as momo_health shows it. */
typedef struct MomoWorkerSummary
{
	Oid			dboid;			/* the database */
	pid_t		pid;			/* its worker, or 0 */
	bool		serving;		/* it found momo installed and serves it */
	char		problem[1024];	/* why it does not send, pauses aside, or ""
								 * (MOMO_PROBLEM_LEN) */
} MomoWorkerSummary;

extern int	momo_launcher_summaries(MomoWorkerSummary **out);
extern int	momo_launcher_unserved(Oid **dboids, MomoUnservedWhy **whys);
extern pid_t momo_launcher_running(void);

/* A running momo process and when the configuration it runs with was loaded. */
typedef struct MomoConfLoaded
{
	Oid			dboid;			/* its database, or InvalidOid for the launcher */
	pid_t		pid;
	TimestampTz loaded_at;
} MomoConfLoaded;

extern int	momo_launcher_conf_loaded(MomoConfLoaded **out);

#endif							/* MOMO_LAUNCHER_H */
