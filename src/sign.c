/*-------------------------------------------------------------------------
 *
 * sign.c
 *	  Signing secrets and Standard Webhooks signatures.
 *
 * A secret is "whsec_" followed by the base64 of 24 to 64 random bytes; the
 * decoded bytes are the HMAC key.  A signature is "v1," followed by
 * base64(HMAC-SHA256(key, "<msg id>.<unix seconds>.<body>")), as
 * standardwebhooks.com specifies, so any of its reference libraries verifies
 * what the worker sends.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/base64.h"
#include "common/cryptohash.h"
#include "common/hmac.h"
#include "common/sha2.h"
#include "fmgr.h"
#include "port.h"
#include "utils/builtins.h"

#include "webhook.h"

PG_FUNCTION_INFO_V1(webhook_new_secret);
PG_FUNCTION_INFO_V1(webhook_check_secret);
PG_FUNCTION_INFO_V1(webhook_sign);

#define SECRET_PREFIX "whsec_"
#define SECRET_BYTES 32
#define MIN_KEY 24

/*
 * Decode a whsec_ secret into key (WEBHOOK_MAX_KEY bytes of room).  Returns
 * false if the secret is not well formed.  No memory is allocated.
 */
bool
webhook_decode_secret(const char *secret, uint8 *key, int *keylen)
{
	const char *b64;
	int			len;
	char		buf[WEBHOOK_MAX_KEY * 2];

	if (strncmp(secret, SECRET_PREFIX, strlen(SECRET_PREFIX)) != 0)
		return false;
	b64 = secret + strlen(SECRET_PREFIX);
	len = strlen(b64);
	if (len == 0 || pg_b64_dec_len(len) > (int) sizeof(buf))
		return false;
	len = pg_b64_decode(b64, len, buf, sizeof(buf));
	if (len < MIN_KEY || len > WEBHOOK_MAX_KEY)
		return false;
	memcpy(key, buf, len);
	*keylen = len;
	return true;
}

/*
 * The v1 signature of one message, palloc'd in the current memory context.
 * Raises ERROR only if the HMAC implementation fails (out of memory).
 */
char *
webhook_signature(const uint8 *key, int keylen, const char *msg_id,
				  int64 ts, const char *body, size_t bodylen)
{
	pg_hmac_ctx *ctx;
	uint8		mac[PG_SHA256_DIGEST_LENGTH];
	char		tsbuf[32];
	char	   *out;
	int			enclen;

	snprintf(tsbuf, sizeof(tsbuf), "." INT64_FORMAT ".", ts);

	ctx = pg_hmac_create(PG_SHA256);
	if (ctx == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_OUT_OF_MEMORY),
				 errmsg("out of memory")));
	if (pg_hmac_init(ctx, key, keylen) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) msg_id, strlen(msg_id)) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) tsbuf, strlen(tsbuf)) < 0 ||
		pg_hmac_update(ctx, (const uint8 *) body, bodylen) < 0 ||
		pg_hmac_final(ctx, mac, sizeof(mac)) < 0)
	{
		const char *err = pg_hmac_error(ctx);

		pg_hmac_free(ctx);
		elog(ERROR, "could not compute HMAC-SHA256: %s", err);
	}
	pg_hmac_free(ctx);

	enclen = pg_b64_enc_len(sizeof(mac));
	out = palloc(3 + enclen + 1);
	memcpy(out, "v1,", 3);
	enclen = pg_b64_encode((const char *) mac, sizeof(mac), out + 3, enclen);
	if (enclen < 0)
		elog(ERROR, "could not encode signature");
	out[3 + enclen] = '\0';
	return out;
}

/* webhook._new_secret(): whsec_ + base64 of 32 bytes from a strong source */
Datum
webhook_new_secret(PG_FUNCTION_ARGS)
{
	char		raw[SECRET_BYTES];
	int			enclen = pg_b64_enc_len(SECRET_BYTES);
	char	   *out = palloc(strlen(SECRET_PREFIX) + enclen + 1);

	if (!pg_strong_random(raw, sizeof(raw)))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random signing secret")));
	strcpy(out, SECRET_PREFIX);
	enclen = pg_b64_encode(raw, sizeof(raw), out + strlen(SECRET_PREFIX), enclen);
	if (enclen < 0)
		elog(ERROR, "could not encode secret");
	out[strlen(SECRET_PREFIX) + enclen] = '\0';
	PG_RETURN_TEXT_P(cstring_to_text(out));
}

static void
decode_or_error(const char *secret, uint8 *key, int *keylen)
{
	if (!webhook_decode_secret(secret, key, keylen))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("argument \"secret\" is not a valid signing secret"),
				 errdetail("A secret is \"whsec_\" followed by the base64 encoding of 24 to 64 bytes."),
				 errhint("Pass secret => NULL to have one generated.")));
}

/* webhook._check_secret(secret): ERROR unless secret is well formed */
Datum
webhook_check_secret(PG_FUNCTION_ARGS)
{
	char	   *secret = text_to_cstring(PG_GETARG_TEXT_PP(0));
	uint8		key[WEBHOOK_MAX_KEY];
	int			keylen;

	decode_or_error(secret, key, &keylen);
	PG_RETURN_VOID();
}

/* webhook.sign(secret, msg_id, ts, body): the webhook-signature value */
Datum
webhook_sign(PG_FUNCTION_ARGS)
{
	char	   *secret = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *msg_id = text_to_cstring(PG_GETARG_TEXT_PP(1));
	int64		ts = PG_GETARG_INT64(2);
	text	   *body = PG_GETARG_TEXT_PP(3);
	uint8		key[WEBHOOK_MAX_KEY];
	int			keylen;

	decode_or_error(secret, key, &keylen);
	PG_RETURN_TEXT_P(cstring_to_text(webhook_signature(key, keylen, msg_id, ts,
													   VARDATA_ANY(body),
													   VARSIZE_ANY_EXHDR(body))));
}
