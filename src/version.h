/*-------------------------------------------------------------------------
 *
 * version.h
 *	  momo's version (the Makefile's EXTVERSION), and the version of the
 *	  schema a database has installed.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MOMO_VERSION_H
#define MOMO_VERSION_H

#ifndef MOMO_VERSION
#error "MOMO_VERSION comes from the Makefile's EXTVERSION"
#endif

/* The User-Agent of every request momo makes. */
#define MOMO_USER_AGENT "momo-postgresql/" MOMO_VERSION

extern Oid	momo_version_extension_lookup(char **version);
extern int	momo_version_compare(const char *a, const char *b);
extern char *momo_version_problem(const char *schema_version, char **hint);

#endif							/* MOMO_VERSION_H */
