/*-------------------------------------------------------------------------
 *
 * msisdn.c
 *	  Phone numbers as people write them ("0788 123 456", "+250 788-123-456",
 *	  "00250 788 123 456") made into what MTN wants: the country code and
 *	  the national number, digits only (250788123456).
 *
 *	  A number written with + or 00 is international ("(0)", a trunk 0 not
 *	  dialled from abroad, is dropped wherever it is).  Bare digits are read,
 *	  in this order, as a number of the country of local numbers (its
 *	  national length, or its trunk 0 and that length), as a number of one
 *	  of MTN's markets (its country code and national length), and else as
 *	  an international number of another country, which keeps ITU-T E.164's
 *	  bounds (8 to 15 digits).  E.164 country codes are prefix-free, so the
 *	  country code of a number is found by its first digits alone.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "utils/elog.h"

#include "msisdn.h"

/*
 * The mobile numbers of MTN's MoMo markets (every X-Target-Environment of
 * the MoMo API): the national number's length, and whether it is dialled
 * at home after a trunk 0.  From the national numbering plans as ITU-T
 * publishes them (E.164 Annex to the Operational Bulletin), checked against
 * libphonenumber's metadata (2026): Côte d'Ivoire went from 8 to 10 digits
 * in January 2021, Benin in November 2024, both by putting 0x in front,
 * which is part of the number (no trunk prefix); Congo-Brazzaville's
 * mobile numbers start with 0 as well (06 for MTN).  Cameroon, Guinea and
 * Eswatini have no trunk prefix either.
 */
static const MomoMarket markets[] = {
	{"250", "Rwanda", "mtnrwanda", 9, true, "788 123 456"},
	{"256", "Uganda", "mtnuganda", 9, true, "772 123 456"},
	{"233", "Ghana", "mtnghana", 9, true, "24 123 4567"},
	{"225", "Ivory Coast", "mtnivorycoast", 10, false, "05 01 23 45 67"},
	{"260", "Zambia", "mtnzambia", 9, true, "96 123 4567"},
	{"237", "Cameroon", "mtncameroon", 9, false, "6 71 23 45 67"},
	{"229", "Benin", "mtnbenin", 10, false, "01 96 12 34 56"},
	{"242", "Congo-Brazzaville", "mtncongo", 9, false, "06 123 4567"},
	{"268", "Eswatini", "mtnswaziland", 8, false, "7612 3456"},
	{"224", "Guinea", "mtnguineaconakry", 9, false, "661 23 45 67"},
	{"27", "South Africa", "mtnsouthafrica", 9, true, "83 123 4567"},
	{"231", "Liberia", "mtnliberia", 9, true, "88 612 3456"},
};

/*
 * Country codes outside MTN's markets whose numbers all have one length
 * after the country code: the North American Numbering Plan's and that of
 * Russia and Kazakhstan (11 digits in all, as E.164 assigns them).  Bare
 * digits of another length that begin with them, with no country of local
 * numbers, are refused: 788123456, a Rwandan number without its 0, is no
 * number of +7.
 */
typedef struct FixedPlan
{
	const char *code;
	const char *countries;
	int			national_digits;
} FixedPlan;

static const FixedPlan fixed_plans[] = {
	{"1", "the North American Numbering Plan", 10},
	{"7", "Russia or Kazakhstan", 10},
};

/* ITU-T E.164: a number with its country code has at most 15 digits. */
#define E164_MIN_DIGITS 8
#define E164_MAX_DIGITS 15

/*
 * Returns the market whose country calling code is code (a leading + is
 * allowed), or NULL.
 */
const MomoMarket *
momo_msisdn_market(const char *code)
{
	if (code == NULL)
		return NULL;
	if (code[0] == '+')
		code++;
	for (size_t i = 0; i < lengthof(markets); i++)
		if (strcmp(code, markets[i].code) == 0)
			return &markets[i];
	return NULL;
}

/* Returns the market whose X-Target-Environment is environment, or NULL. */
const MomoMarket *
momo_msisdn_market_of_environment(const char *environment)
{
	if (environment == NULL)
		return NULL;
	for (size_t i = 0; i < lengthof(markets); i++)
		if (strcmp(environment, markets[i].environment) == 0)
			return &markets[i];
	return NULL;
}

/* Returns the markets' calling codes for a message: "250 (Rwanda), 256 (Uganda), ...". */
char *
momo_msisdn_market_codes(void)
{
	StringInfoData s;

	initStringInfo(&s);
	for (size_t i = 0; i < lengthof(markets); i++)
		appendStringInfo(&s, "%s%s (%s)", i > 0 ? ", " : "", markets[i].code, markets[i].country);
	return s.data;
}

/* Returns the market whose country code begins digits, or NULL. */
static const MomoMarket *
market_of_number(const char *digits)
{
	for (size_t i = 0; i < lengthof(markets); i++)
		if (strncmp(digits, markets[i].code, strlen(markets[i].code)) == 0)
			return &markets[i];
	return NULL;
}

/* Returns s without its spaces, palloc'd. */
static char *
unspaced(const char *s)
{
	char	   *out = palloc(strlen(s) + 1);
	char	   *o = out;

	for (; *s; s++)
		if (*s != ' ')
			*o++ = *s;
	*o = '\0';
	return out;
}

/*
 * The hint for a number of market m: the forms it may be written in (its
 * local form only when m is the country of local numbers).
 */
static char *
market_hint(const MomoMarket *m, const MomoMarket *local)
{
	if (m == local)
		return psprintf("Write a number of %s as %s%s, +%s %s or %s%s.",
						m->country, m->code, unspaced(m->example), m->code, m->example,
						m->trunk_zero ? "0" : "", m->example);
	return psprintf("Write a number of %s as %s%s or +%s %s.",
					m->country, m->code, unspaced(m->example), m->code, m->example);
}

/* The hint for a number of no known country, or a missing one. */
char *
momo_msisdn_hint(const MomoMarket *local)
{
	if (local == NULL)
		return pstrdup("Write the number with its country code, e.g. 250788123456 or +250 788 123 456.");
	return psprintf("Write the number with its country code, e.g. %s%s or +%s %s, or as a number of %s, e.g. %s%s.",
					local->code, unspaced(local->example), local->code, local->example,
					local->country, local->trunk_zero ? "0" : "", local->example);
}

/* Fills in problem and returns NULL. */
static char *
refuse(MomoMsisdnProblem *problem, int sqlstate, char *message, char *hint)
{
	problem->no_country = false;
	problem->may_lack_country = false;
	problem->sqlstate = sqlstate;
	problem->message = message;
	problem->hint = hint;
	return NULL;
}

/* Refuses a national number of market m that has n digits instead of its length. */
static char *
refuse_length(MomoMsisdnProblem *problem, const MomoMarket *m, const MomoMarket *local, int n)
{
	return refuse(problem, ERRCODE_INVALID_PARAMETER_VALUE,
				  psprintf("msisdn is too %s: a number of %s has %d digits after the country code %s%s, not %d",
						   n < m->national_digits ? "short" : "long", m->country, m->national_digits,
						   m->code, m->trunk_zero ? " (or the leading 0)" : "", n),
				  market_hint(m, local));
}

/*
 * Returns the MSISDN of national number nsn of market m, or NULL with the
 * problem.  A trunk 0 written after the country code (+250 (0)788 ...) is
 * dropped.
 */
static char *
national(const char *nsn, const MomoMarket *m, const MomoMarket *local, MomoMsisdnProblem *problem)
{
	int			n = (int) strlen(nsn);

	if (m->trunk_zero && nsn[0] == '0' && n == m->national_digits + 1)
	{
		nsn++;
		n--;
	}
	if (n != m->national_digits)
		return refuse_length(problem, m, local, n);
	return psprintf("%s%s", m->code, nsn);
}

static bool fixed_plan_refused(const char *digits, int n, const MomoMarket *local,
							   MomoMsisdnProblem *problem);

/* Returns the MSISDN of digits, a number with its country code, or NULL with the problem. */
static char *
international(const char *digits, const MomoMarket *local, MomoMsisdnProblem *problem)
{
	const MomoMarket *m;
	int			n = (int) strlen(digits);

	if (digits[0] == '0')
		return refuse(problem, ERRCODE_INVALID_PARAMETER_VALUE,
					  pstrdup("msisdn must have a country code after + or 00, not 0"),
					  momo_msisdn_hint(local));
	if ((m = market_of_number(digits)) != NULL)
		return national(digits + strlen(m->code), m, local, problem);
	if (n >= E164_MIN_DIGITS && n <= E164_MAX_DIGITS && fixed_plan_refused(digits, n, local, problem))
		return NULL;
	if (n < E164_MIN_DIGITS)
		return refuse(problem, ERRCODE_INVALID_PARAMETER_VALUE,
					  psprintf("msisdn is too short: %d digits, at least %d are needed", n, E164_MIN_DIGITS),
					  momo_msisdn_hint(local));
	if (n > E164_MAX_DIGITS)
		return refuse(problem, ERRCODE_INVALID_PARAMETER_VALUE,
					  psprintf("msisdn is too long: %d digits, at most %d are allowed (ITU-T E.164)", n, E164_MAX_DIGITS),
					  momo_msisdn_hint(local));
	return pstrdup(digits);
}

/*
 * Refuses (true, with the problem) digits, n of them with their country
 * code, whose country code has numbers of one length only (fixed_plans;
 * those of MTN's markets are checked by national()) and that have another.
 */
static bool
fixed_plan_refused(const char *digits, int n, const MomoMarket *local, MomoMsisdnProblem *problem)
{
	for (size_t i = 0; i < lengthof(fixed_plans); i++)
	{
		const FixedPlan *p = &fixed_plans[i];
		int			nsn = n - (int) strlen(p->code);

		if (strncmp(digits, p->code, strlen(p->code)) != 0 || nsn == p->national_digits)
			continue;
		refuse(problem, ERRCODE_INVALID_PARAMETER_VALUE,
			   psprintf("msisdn is too %s: a number of %s has %d digits after the country code %s, not %d",
						nsn < p->national_digits ? "short" : "long", p->countries,
						p->national_digits, p->code, nsn),
			   momo_msisdn_hint(local));
		return true;
	}
	return false;
}

/*
 * Returns the MSISDN of bare digits d (n of them, not starting with 0),
 * with no country of local numbers: a number with its country code.  One
 * of a fixed plan's country codes with another length is more likely a
 * local number without its country code, and the hint says how to write
 * one.
 */
static char *
bare_international(const char *d, int n, MomoMsisdnProblem *problem)
{
	if (n >= E164_MIN_DIGITS && n <= E164_MAX_DIGITS && fixed_plan_refused(d, n, NULL, problem))
	{
		problem->hint = psprintf("%s If it is a local number without its country code, set momo.msisdn_country to the country calling code of local numbers.",
								 momo_msisdn_hint(NULL));
		problem->may_lack_country = true;
		return NULL;
	}
	return international(d, NULL, problem);
}

/*
 * Returns the number written as MTN wants it (country code and national
 * number, digits only), reading a number without a country code as one of
 * local (NULL: there is no such country, and such a number is refused).
 * Returns NULL and describes the ERROR to raise in problem when the number
 * cannot be one.
 */
char *
momo_msisdn_normalize(const char *written, const MomoMarket *local, MomoMsisdnProblem *problem)
{
	size_t		len = strlen(written);
	char	   *d = palloc(len + 1);
	int			n = 0;
	bool		plus = false;
	bool		bad = false;
	bool		trunk_first = false;

	/*
	 * Digits, the separators people write, and a + before any digit.  "(0)"
	 * marks a trunk 0 that is not dialled from abroad (+44 (0)20 ...): it
	 * goes.
	 */
	for (const char *c = written; *c; c++)
	{
		if (strncmp(c, "(0)", 3) == 0)
		{
			if (plus && n == 0)
				trunk_first = true; /* +(0)788 ...: the country code is missing */
			c += 2;
		}
		else if (*c >= '0' && *c <= '9')
			d[n++] = *c;
		else if (*c == '+' && n == 0 && !plus)
			plus = true;
		else if (strchr(" -.()", *c) == NULL)
			bad = true;
	}
	d[n] = '\0';
	if (bad)
		return refuse(problem, ERRCODE_INVALID_PARAMETER_VALUE,
					  pstrdup("msisdn must contain only digits"),
					  psprintf("Spaces, dashes, dots, parentheses and a leading + are allowed too, e.g. +%s %s.",
							   local ? local->code : "250", local ? local->example : "788 123 456"));
	if (n == 0)
		return refuse(problem, ERRCODE_INVALID_PARAMETER_VALUE,
					  pstrdup("msisdn must not be empty"), momo_msisdn_hint(local));
	if (trunk_first)
		return refuse(problem, ERRCODE_INVALID_PARAMETER_VALUE,
					  pstrdup("msisdn must have a country code after +, not (0)"),
					  momo_msisdn_hint(local));

	if (plus)
		return international(d, local, problem);
	if (d[0] == '0' && d[1] == '0')
		return international(d + 2, local, problem);

	/* Bare digits. */
	if (local == NULL)
	{
		if (d[0] != '0')
			return bare_international(d, n, problem);
		refuse(problem, ERRCODE_INVALID_PARAMETER_VALUE,
			   pstrdup("msisdn has no country code"),
			   pstrdup("Write the number with its country code, e.g. 250788123456 or +250 788 123 456, or set momo.msisdn_country to the country calling code of local numbers."));
		problem->no_country = true;
		return NULL;
	}
	if (local->trunk_zero && d[0] == '0')
	{
		if (n - 1 != local->national_digits)
			return refuse_length(problem, local, local, n - 1);
		return psprintf("%s%s", local->code, d + 1);
	}
	if (n == local->national_digits)
		return psprintf("%s%s", local->code, d);
	if (strncmp(d, local->code, strlen(local->code)) == 0)
		return national(d + strlen(local->code), local, local, problem);
	/* Too short to have a country code, or a national number that starts with 0. */
	if (n < local->national_digits || d[0] == '0')
		return refuse_length(problem, local, local, n);

	/*
	 * A number of one of MTN's markets, written with its country code but
	 * without + or 00, is that market's.  Any other is refused: a number of
	 * another country must say so with its + or 00.  Read as one, a local
	 * number typed with a digit too many (788 123 4567 in Rwanda) went to
	 * country code 7, and a payout with it.
	 */
	if (market_of_number(d) != NULL)
		return international(d, local, problem);
	refuse_length(problem, local, local, n);
	problem->hint = psprintf("%s A number of another country needs its + or 00.", problem->hint);
	return NULL;
}
