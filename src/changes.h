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

extern int64 momo_changes_number(Oid nsp, const char *schema, int limit);
extern uint64 momo_changes_purge(Oid nsp, const char *schema, int limit);

#endif							/* MOMO_CHANGES_H */
