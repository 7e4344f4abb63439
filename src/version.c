/*-------------------------------------------------------------------------
 *
 * version.c
 *	  Which version of momo's schema a database has, against the library's.
 *
 *	  Between installing a new library (make install, a package upgrade)
 *	  and ALTER EXTENSION momo UPDATE, a database keeps the schema of the
 *	  version it was created or last updated with.  The library copes: it
 *	  keeps to what that schema has (every later schema change is additive,
 *	  and the C symbols older scripts bind to stay), says so once in the
 *	  server log, and momo_preflight() shows it until the update is done.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/skey.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/pg_extension.h"
#include "utils/builtins.h"
#include "utils/fmgroids.h"
#include "utils/rel.h"

#include "version.h"

/*
 * Returns the schema of the momo extension in this database (InvalidOid when
 * it is not installed), and, when version is not NULL, its installed
 * version in *version (palloc'd; NULL when not installed).
 */
Oid
momo_version_extension_lookup(char **version)
{
	Relation	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tup;
	Oid			nsp = InvalidOid;

	if (version)
		*version = NULL;
	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum("momo"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tup = systable_getnext(scan);
	if (HeapTupleIsValid(tup))
	{
		nsp = ((Form_pg_extension) GETSTRUCT(tup))->extnamespace;
		if (version)
		{
			bool		isnull;
			Datum		d = heap_getattr(tup, Anum_pg_extension_extversion,
										 RelationGetDescr(rel), &isnull);

			*version = isnull ? pstrdup("") : TextDatumGetCString(d);
		}
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return nsp;
}

/*
 * Compares two versions: < 0, 0 or > 0 as a is older than, the same as or
 * newer than b.  Dotted numbers compare numerically ("1.10" is newer than
 * "1.9"); from the first part that is not a number on ("1.1beta", "1.1 "),
 * and between spellings of the same numbers ("1.01", "1.1"), the texts
 * compare as strings, so that different versions never compare equal.
 */
int
momo_version_compare(const char *a, const char *b)
{
	const char *pa = a;
	const char *pb = b;

	while (isdigit((unsigned char) *pa) && isdigit((unsigned char) *pb))
	{
		char	   *ea;
		char	   *eb;
		unsigned long x = strtoul(pa, &ea, 10);
		unsigned long y = strtoul(pb, &eb, 10);

		if (x != y)
			return x < y ? -1 : 1;
		pa = ea;
		pb = eb;
		if (*pa != '.' || *pb != '.')
			break;
		pa++;
		pb++;
	}
	/* one ran out of numbers, or something else follows */
	if (*pa == '\0' && *pb != '\0')
		return -1;				/* "1.1" is older than "1.1.1" (and, here, "1.1beta") */
	if (*pb == '\0' && *pa != '\0')
		return 1;
	return strcmp(pa, pb) != 0 ? (strcmp(pa, pb) < 0 ? -1 : 1) :
		(strcmp(a, b) < 0 ? -1 : strcmp(a, b) > 0 ? 1 : 0);
}

/*
 * Returns NULL when the installed schema is this library's version; else
 * what is wrong (palloc'd), with what to do in *hint.
 */
char *
momo_version_problem(const char *schema_version, char **hint)
{
	int			cmp = momo_version_compare(schema_version, MOMO_VERSION);

	if (cmp == 0)
		return NULL;
	if (cmp < 0)
	{
		*hint = pstrdup("Run ALTER EXTENSION momo UPDATE in this database; momo keeps working "
						"with the older schema meanwhile.");
		return psprintf("momo's schema in this database is version \"%s\", older than its library (%s)",
						schema_version, MOMO_VERSION);
	}
	*hint = psprintf("Install the library of momo \"%s\" (this server loads an older momo.so), "
					 "then restart the server.", schema_version);
	return psprintf("momo's schema in this database is version \"%s\", newer than its library (%s)",
					schema_version, MOMO_VERSION);
}
