/*
 * keys.h - subscription keys at run time: keys refused on request
 * (POST /_sandbox/keys), and which keys each product's calls carried.
 */
#ifndef MOMO_SANDBOX_KEYS_H
#define MOMO_SANDBOX_KEYS_H

#include <stddef.h>

#include "json.h"

/* 1 if key is refused for product prod by a run-time refusal. */
int keys_refused(const char *key, int prod);
/* Count a product call (token included) that carried key, accepted or not. */
void keys_count(const char *key, int prod, int accepted);
/* Replace the refused keys with the JSON array refuse ("KEY" for every
   product, "product=KEY" for one); 0 ok, else -1 with a message in err. */
int keys_set_refused(const struct json *doc, const struct jnode *refuse, char *err, size_t errlen);
/* Append {"refused":[...],"seen":{product:{key:{"accepted":n,"refused":n}}}}. */
void keys_json(struct sbuf *b);
/* Forget the refusals and the counts (reset), or the counts only (reset-stats). */
void keys_reset(void);
void keys_reset_counts(void);

#endif
