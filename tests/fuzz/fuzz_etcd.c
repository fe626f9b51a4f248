/*
 * libFuzzer target for the etcd JSON gateway reply parsers (daemon/etcd.c):
 * the first byte picks the operation and the HTTP status, the rest is the
 * reply body. Checks what a caller relies on: a result is either ok with
 * well-formed data or an error with a message and nothing else.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "etcd.h"

static void
range_check(const struct etcd_range *r)
{
	size_t i;

	if (r->nkvs > 0 && r->kvs == NULL)
		abort();
	if (r->count < (int64_t)r->nkvs)
		abort();
	for (i = 0; i < r->nkvs; i++) {
		const struct etcd_kv *kv = &r->kvs[i];

		if (kv->key == NULL || kv->key[0] == '\0' || kv->value == NULL ||
		    kv->value[kv->value_len] != '\0')
			abort();
		if (kv->create_revision < 0 || kv->mod_revision < 0 || kv->version < 0 ||
		    kv->lease < 0)
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int statuses[] = {200, 200, 200, 404, 500, 503};
	struct etcd_result res;
	enum etcd_op op;
	char *body, *dec, *enc;
	size_t i;
	ssize_t n;
	int rc;

	if (size < 1)
		return 0;
	op = (enum etcd_op)(data[0] % 8);
	body = malloc(size);
	if (body == NULL)
		return 0;
	memcpy(body, data + 1, size - 1);
	body[size - 1] = '\0';
	memset(&res, 0, sizeof(res));
	rc = etcd_parse_reply(op, statuses[(data[0] >> 3) % 6], body, size - 1, &res);
	if (rc == 0) {
		if (!res.ok || res.error[0] != '\0')
			abort();
		if (op == ETCD_OP_GRANT && (res.lease_id <= 0 || res.ttl <= 0))
			abort();
		if (op == ETCD_OP_KEEPALIVE && res.lease_lost != (res.ttl == 0))
			abort();
		if (op == ETCD_OP_AUTH && (res.token == NULL || res.token[0] == '\0'))
			abort();
		range_check(&res.range);
		for (i = 0; i < res.nresponses; i++)
			range_check(&res.responses[i].range);
	} else {
		if (rc != -1 || res.ok || res.error[0] == '\0' ||
		    memchr(res.error, '\0', sizeof(res.error)) == NULL)
			abort();
		if (res.range.kvs != NULL || res.responses != NULL || res.token != NULL)
			abort();
		/* etcd's own text is kept printable: one line in a log */
		for (i = 0; res.error[i] != '\0'; i++)
			if ((unsigned char)res.error[i] < 0x20)
				abort();
	}
	etcd_result_clear(&res);

	/* base64: whatever decodes re-encodes to the same text. */
	n = etcd_b64_decode(body, size - 1, &dec);
	if (n >= 0) {
		enc = etcd_b64_encode(dec, (size_t)n);
		if (strlen(enc) != size - 1 || memcmp(enc, body, size - 1) != 0)
			abort();
		free(enc);
		free(dec);
	} else if (dec != NULL)
		abort();
	free(body);
	return 0;
}
