/*-------------------------------------------------------------------------
 *
 * json.h
 *	  Extraction of named fields from JSON bodies received from the network.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MOMO_JSON_H
#define MOMO_JSON_H

/* One field to extract: "name" at the top level, or "name.sub" one level down. */
typedef struct MomoJsonField
{
	const char *path;
	char	   *value;			/* scalar text (strings unescaped); NULL if absent, null or not a scalar */
	bool		present;		/* the key occurred, whatever its value */
	bool		is_string;
	bool		is_object;
} MomoJsonField;

extern char *momo_json_extract(const char *body, size_t len,
							   MomoJsonField *fields, int nfields);
extern MomoJsonField *momo_json_field(MomoJsonField *fields, int nfields, const char *path);

#endif							/* MOMO_JSON_H */
