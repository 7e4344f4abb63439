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

extern bool momo_in_worker;

extern char *momo_owner_schema_problem(Oid nsp);
extern char *momo_owner_table_problem(Oid relid, Oid owner, Oid nsp);
extern Oid	momo_owner_of(Oid relid);
extern void momo_owner_enter(FunctionCallInfo fcinfo, MomoActing *a);
extern void momo_owner_leave(MomoActing *a);
extern void momo_owner_install_hooks(void);

#endif							/* MOMO_OWNER_H */
