/*-------------------------------------------------------------------------
 *
 * owner.h
 *	  Whom momo acts as: its SQL functions and its worker do their own
 *	  statements as the owner of momo_payments, after checking it is safe.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MOMO_OWNER_H
#define MOMO_OWNER_H

#include "fmgr.h"

/* The caller of one of momo's SQL functions, and whom it acts as meanwhile. */
typedef struct MomoActing
{
	char	   *schema;			/* quoted schema of momo's tables */
	Oid			relid;			/* momo_payments */
	Oid			caller;			/* the current user when the function was called */
	Oid			owner;			/* the owner of momo_payments, acted as */
	Oid			saved_userid;	/* restored by momo_owner_leave */
	int			saved_sec_context;
} MomoActing;

/*
 * A bit of SecurityRestrictionContext that PostgreSQL 15 leaves unused (it
 * uses the lowest three), set with SECURITY_LOCAL_USERID_CHANGE and
 * SECURITY_RESTRICTED_OPERATION where momo's own C code becomes the owner of
 * its tables (momo_owner_enter, the worker's begin_work).  PostgreSQL saves
 * and restores it with the others (an aborted (sub)transaction restores what
 * its start saved), and no SQL can set it: so momo's guards tell momo's
 * statements from a session that became momo_worker by SET ROLE (a
 * superuser's, or a member's, which PostgreSQL lets go on acting as it after
 * the membership is revoked).  PostgreSQL hands the caller's bits to every
 * function it calls, so momo's function-manager hook takes this one off for
 * any function that starts as another role than momo_worker (owner.c), and
 * momo's own switches to the caller (momo_owner_as_caller) drop it.
 */
#define MOMO_SECURITY_ACTING 0x0100

extern bool momo_in_worker;

extern char *momo_owner_schema_problem(Oid nsp);
extern char *momo_owner_table_problem(Oid relid, Oid owner, Oid nsp);
extern Oid	momo_owner_of(Oid relid);
extern void momo_owner_enter(FunctionCallInfo fcinfo, MomoActing *a);
extern void momo_owner_leave(MomoActing *a);
extern void momo_owner_as_caller(Oid caller, Oid *save_userid, int *save_sec_context);
extern void momo_owner_install_hooks(void);

#endif							/* MOMO_OWNER_H */
