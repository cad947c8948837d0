/*-------------------------------------------------------------------------
 *
 * guard.c
 *	  The outbound address guard (server-side request forgery defence).
 *
 * The worker checks the address libcurl is about to connect to, after name
 * resolution, from its open-socket callback (http.c).  Checking the resolved
 * address rather than the URL's spelling defeats the tricks that fool string
 * checks: 127.1, 2130706433, 0x7f.1, [::ffff:127.0.0.1], a DNS name that
 * resolves to loopback, and so on.  Loopback, private, link-local (which
 * holds the cloud metadata address 169.254.169.254), CGNAT, multicast,
 * reserved and unspecified addresses are refused unless they fall in one of
 * the networks of webhook.allowed_networks.  IPv4-mapped, IPv4-compatible,
 * NAT64 and 6to4 IPv6 addresses are judged by the IPv4 address they carry.
 *
 * Nothing here allocates or raises errors: the checks run inside a libcurl
 * callback.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "webhook.h"

typedef struct Range
{
	int			family;
	uint8		addr[16];
	int			prefix;
} Range;

#define V4(a,b,c,d) {a, b, c, d}
#define V6(...) {__VA_ARGS__}

static const Range blocked[] = {
	{AF_INET, V4(0, 0, 0, 0), 8},	/* "this" network, unspecified */
	{AF_INET, V4(10, 0, 0, 0), 8},	/* private */
	{AF_INET, V4(100, 64, 0, 0), 10},	/* CGNAT */
	{AF_INET, V4(127, 0, 0, 0), 8}, /* loopback */
	{AF_INET, V4(169, 254, 0, 0), 16},	/* link-local, cloud metadata */
	{AF_INET, V4(172, 16, 0, 0), 12},	/* private */
	{AF_INET, V4(192, 0, 0, 0), 24},	/* IETF protocol assignments */
	{AF_INET, V4(192, 168, 0, 0), 16},	/* private */
	{AF_INET, V4(198, 18, 0, 0), 15},	/* benchmarking */
	{AF_INET, V4(224, 0, 0, 0), 4}, /* multicast */
	{AF_INET, V4(240, 0, 0, 0), 4}, /* reserved, broadcast */
	{AF_INET6, V6(0), 128},		/* unspecified */
	{AF_INET6, V6(0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1), 128},	/* loopback */
	{AF_INET6, V6(0xfc), 7},	/* unique local */
	{AF_INET6, V6(0xfe, 0x80), 10}, /* link-local */
	{AF_INET6, V6(0xfe, 0xc0), 10}, /* site-local (deprecated) */
	{AF_INET6, V6(0xff), 8},	/* multicast */
	{AF_INET6, V6(0, 0x64, 0xff, 0x9b, 0, 1), 48},	/* local-use NAT64 */
};

static bool
in_network(int family, const uint8 *addr, int netfamily, const uint8 *net, int prefix)
{
	int			full = prefix / 8;
	int			rest = prefix % 8;

	if (family != netfamily)
		return false;
	if (memcmp(addr, net, full) != 0)
		return false;
	if (rest != 0)
	{
		uint8		mask = (uint8) (0xff << (8 - rest));

		if ((addr[full] & mask) != (net[full] & mask))
			return false;
	}
	return true;
}

/*
 * Parse a comma-separated list of CIDR networks.  On success returns true
 * with a malloc'd array (NULL when the list is empty); on failure returns
 * false with *bad pointing to a malloc'd copy of the offending item.
 * Usable from a GUC check hook.
 */
bool
webhook_parse_networks(const char *value, WebhookNetwork **nets, int *nnets,
					   char **bad)
{
	const char *p = value ? value : "";
	int			cap = 0;
	WebhookNetwork *out = NULL;

	*nets = NULL;
	*nnets = 0;
	*bad = NULL;
	while (*p)
	{
		const char *start;
		const char *stop;
		char		item[128];
		char	   *slash;
		WebhookNetwork net;
		int			maxprefix;
		size_t		len;

		while (*p == ' ' || *p == ',' || *p == '\t')
			p++;
		if (*p == '\0')
			break;
		start = p;
		while (*p && *p != ',')
			p++;
		stop = p;
		while (stop > start && (stop[-1] == ' ' || stop[-1] == '\t'))
			stop--;
		len = stop - start;
		if (len >= sizeof(item))
			len = sizeof(item) - 1;
		memcpy(item, start, len);
		item[len] = '\0';

		memset(&net, 0, sizeof(net));
		slash = strchr(item, '/');
		if (slash)
			*slash = '\0';
		if (inet_pton(AF_INET, item, net.addr) == 1)
		{
			net.family = AF_INET;
			maxprefix = 32;
		}
		else if (inet_pton(AF_INET6, item, net.addr) == 1)
		{
			net.family = AF_INET6;
			maxprefix = 128;
		}
		else
			goto fail;
		net.prefix = maxprefix;
		if (slash)
		{
			char	   *end;
			long		prefix = strtol(slash + 1, &end, 10);

			if (slash[1] == '\0' || *end != '\0' || prefix < 0 || prefix > maxprefix)
				goto fail;
			net.prefix = (int) prefix;
		}
		if (*nnets == cap)
		{
			WebhookNetwork *grown;

			cap = cap ? cap * 2 : 4;
			grown = realloc(out, cap * sizeof(WebhookNetwork));
			if (grown == NULL)
				goto fail;
			out = grown;
		}
		out[(*nnets)++] = net;
		continue;

fail:
		free(out);
		*nnets = 0;
		memcpy(item, start, len);
		item[len] = '\0';
		*bad = strdup(item);
		return false;
	}
	*nets = out;
	return true;
}

/*
 * May the worker connect to this address?  IPv4-mapped (::ffff:a.b.c.d) and
 * NAT64 (64:ff9b::a.b.c.d) addresses are judged as the IPv4 address.
 */
bool
webhook_address_allowed(const struct sockaddr *sa, const WebhookNetwork *allowed,
						int nallowed)
{
	int			family;
	uint8		addr[16];

	if (sa->sa_family == AF_INET)
	{
		family = AF_INET;
		memcpy(addr, &((const struct sockaddr_in *) sa)->sin_addr, 4);
	}
	else if (sa->sa_family == AF_INET6)
	{
		static const uint8 mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
		static const uint8 nat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
		static const uint8 compat[12] = {0};
		const uint8 *a6 = (const uint8 *) &((const struct sockaddr_in6 *) sa)->sin6_addr;
		bool		v4_inside = memcmp(a6, mapped, 12) == 0 || memcmp(a6, nat64, 12) == 0;

		/* ::a.b.c.d (IPv4-compatible), but not :: and ::1 themselves */
		if (memcmp(a6, compat, 12) == 0 && (a6[12] | a6[13] | a6[14]) != 0)
			v4_inside = true;
		if (v4_inside)
		{
			family = AF_INET;
			memcpy(addr, a6 + 12, 4);
		}
		else if (a6[0] == 0x20 && a6[1] == 0x02)
		{
			/* 6to4, 2002:aabb:ccdd::/48 carries a.b.c.d */
			family = AF_INET;
			memcpy(addr, a6 + 2, 4);
		}
		else
		{
			family = AF_INET6;
			memcpy(addr, a6, 16);
		}
	}
	else
		return false;			/* only IP sockets */

	for (int i = 0; i < nallowed; i++)
		if (in_network(family, addr, allowed[i].family, allowed[i].addr, allowed[i].prefix))
			return true;
	for (int i = 0; i < (int) lengthof(blocked); i++)
		if (in_network(family, addr, blocked[i].family, blocked[i].addr, blocked[i].prefix))
			return false;
	return true;
}
