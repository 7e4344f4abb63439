/*-------------------------------------------------------------------------
 *
 * changes.h
 *	  The change feed: every status a payment takes, numbered in commit
 *	  order (changes.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef MOMO_CHANGES_H
#define MOMO_CHANGES_H

#include "nodes/pg_list.h"

/* A final status the numberer numbered (momo_changes_take_finals). */
typedef struct MomoNumberedFinal
{
	char	   *reference_id;
	char	   *status;
} MomoNumberedFinal;

extern void momo_changes_collect(MemoryContext cxt);
extern List *momo_changes_take_finals(void);
extern int64 momo_changes_number(Oid nsp, const char *schema, int limit);
extern uint64 momo_changes_purge(Oid nsp, const char *schema, int limit);

#endif							/* MOMO_CHANGES_H */
