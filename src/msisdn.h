/*-------------------------------------------------------------------------
 *
 * msisdn.h
 *	  Phone numbers as people write them, made into what MTN wants: the
 *	  country code and the national number, digits only.  One table holds
 *	  the numbering of MTN's MoMo markets.
 *
 *-------------------------------------------------------------------------
 */
#ifndef MOMO_MSISDN_H
#define MOMO_MSISDN_H

/* One MTN MoMo market's mobile numbers. */
typedef struct MomoMarket
{
	const char *code;			/* country calling code, e.g. "250" */
	const char *country;		/* e.g. "Rwanda" */
	const char *environment;	/* its X-Target-Environment, e.g. "mtnrwanda" */
	int			national_digits;	/* digits after the country code */
	bool		trunk_zero;		/* dialled at home with a 0 that is not part
								 * of the number (0788 123 456) */
	const char *example;		/* a national number, spaced as people write it */
} MomoMarket;

/* A number that cannot be made into an MSISDN: the ERROR to raise. */
typedef struct MomoMsisdnProblem
{
	int			sqlstate;
	char	   *message;
	char	   *hint;
	bool		no_country;		/* only its country code is missing */
	bool		may_lack_country;	/* bare digits refused with no country of
									 * local numbers: may be a local number
									 * without its country code */
} MomoMsisdnProblem;

extern const MomoMarket *momo_msisdn_market(const char *code);
extern const MomoMarket *momo_msisdn_market_of_environment(const char *environment);
extern char *momo_msisdn_market_codes(void);
extern char *momo_msisdn_hint(const MomoMarket *local);
extern char *momo_msisdn_normalize(const char *written, const MomoMarket *local,
								   MomoMsisdnProblem *problem);

#endif							/* MOMO_MSISDN_H */
