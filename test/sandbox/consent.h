/*
 * consent.h - the consent flow (bc-authorize, the OAuth2 token, userinfo) of
 * every product, as MTN defines it; see consent.c for the test numbers.
 */
#ifndef MOMO_SANDBOX_CONSENT_H
#define MOMO_SANDBOX_CONSENT_H

#include "sandbox.h"

/* POST /{product}/v1_0/bc-authorize, its bearer token already checked (user: whose). */
void consent_bc_authorize(struct MHD_Connection *c, struct req *r, int prod,
                          const struct apiuser *user);
/* POST /{product}/oauth2/token/, its subscription key already checked. */
void consent_token(struct MHD_Connection *c, struct req *r, int prod);
/* GET /{product}/oauth2/v1_0/userinfo, its subscription key already checked. */
void consent_userinfo(struct MHD_Connection *c, struct req *r, int prod);

/* Appends {"requests":[{auth_req_id, msisdn, scope, polls, granted}...], "tokens":[...]}:
   every auth request kept and every OAuth2 and refresh token issued (GET /_sandbox/consent),
   so that tests can look for them where they must not be. */
void consent_json(struct sbuf *b);

/* Forget every auth request and token (POST /_sandbox/reset). */
void consent_clear(void);

#endif
