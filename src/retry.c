/*-------------------------------------------------------------------------
 *
 * retry.c
 *	  The retry schedule: when a failed delivery is tried again.
 *
 * webhook.retry_schedule lists the delays after the 1st, 2nd, ... failed
 * attempt; the last one repeats until webhook.max_attempts.  A receiver's
 * Retry-After, within bounds, takes the place of the schedule's delay.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "common/pg_prng.h"

#include "worker.h"
#include "settings.h"

/* bounds on a receiver's Retry-After */
#define MIN_RETRY_AFTER_S 1
#define MAX_RETRY_AFTER_S (24 * 3600)

/* the schedule in use, malloc'd (webhook_retry_configure) */
static int *schedule_ms = NULL;
static int	schedule_len = 0;

/*
 * Parse a retry schedule such as "5s,5min,30min,2h" into malloc'd delays in
 * milliseconds.  A bare number is seconds; units are ms, s, min, h, d.
 * Usable from a GUC check hook.
 */
bool
webhook_parse_schedule(const char *value, int **delays_ms, int *ndelays)
{
	const char *p = value ? value : "";
	int			cap = 8;
	int		   *out = malloc(cap * sizeof(int));
	int			n = 0;

	if (out == NULL)
		return false;
	while (*p)
	{
		char	   *end;
		double		num;
		double		unit;

		while (*p == ' ' || *p == '\t')
			p++;
		num = strtod(p, &end);
		if (end == p || num < 0 || isnan(num))
			goto fail;
		p = end;
		while (*p == ' ')
			p++;
		if (strncmp(p, "ms", 2) == 0)
			unit = 1, p += 2;
		else if (strncmp(p, "min", 3) == 0)
			unit = 60000, p += 3;
		else if (*p == 's')
			unit = 1000, p += 1;
		else if (*p == 'h')
			unit = 3600000, p += 1;
		else if (*p == 'd')
			unit = 86400000, p += 1;
		else
			unit = 1000;
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p != ',' && *p != '\0')
			goto fail;
		if (*p == ',')
			p++;
		if (num * unit > (double) PG_INT32_MAX)
			goto fail;
		if (n == cap)
		{
			int		   *grown = realloc(out, cap * 2 * sizeof(int));

			if (grown == NULL)
				goto fail;
			out = grown;
			cap *= 2;
		}
		out[n++] = (int) (num * unit);
	}
	if (n == 0)
		goto fail;
	*delays_ms = out;
	*ndelays = n;
	return true;

fail:
	free(out);
	return false;
}

/* Use schedule from now on; a schedule that does not parse is ignored. */
void
webhook_retry_configure(const char *schedule)
{
	int		   *delays;
	int			n;

	if (webhook_parse_schedule(schedule, &delays, &n))
	{
		free(schedule_ms);
		schedule_ms = delays;
		schedule_len = n;
	}
}

/*
 * Delay before the retry that follows attempt number attempts, in ms;
 * retry_after_s is the receiver's Retry-After, or -1.
 */
int64
webhook_retry_delay_ms(int attempts, int retry_after_s)
{
	double		delay;

	if (retry_after_s >= 0)
		return (int64) Max(Min(retry_after_s, MAX_RETRY_AFTER_S), MIN_RETRY_AFTER_S) * 1000;
	Assert(schedule_len > 0);
	delay = schedule_ms[Min(Max(attempts, 1), schedule_len) - 1];
	/* +-10% jitter so that retries of a burst spread out */
	delay *= 0.9 + 0.2 * pg_prng_double(&pg_global_prng_state);
	return (int64) delay;
}
