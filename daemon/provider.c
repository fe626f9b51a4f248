/* What every provider shares: result names, the ops table, machine lists. */
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "provider.h"
#include "util.h"

const char *
prov_result_str(enum prov_result r)
{
	switch (r) {
	case PROV_OK: return "ok";
	case PROV_RETRY: return "retry";
	case PROV_CONFIG: return "config";
	case PROV_FAILED: return "failed";
	}
	return "unknown";
}

const struct provider_ops *
provider_ops_for(int kind)
{
	switch (kind) {
	case PROVIDER_FLY: return &provider_fly_ops;
	case PROVIDER_COMMAND: return &provider_command_ops;
	case PROVIDER_NONE: return &provider_none_ops;
	}
	return NULL;
}

void
machine_list_free(struct machine_list *ml)
{
	if (ml == NULL)
		return;
	free(ml->v);
	ml->v = NULL;
	ml->n = 0;
}

int
machine_list_count_running(const struct machine_list *ml)
{
	int i, n = 0;

	if (ml == NULL)
		return 0;
	for (i = 0; i < ml->n; i++)
		if (machine_state_running(ml->v[i].state))
			n++;
	return n;
}

void
machine_list_copy(struct machine_list *dst, const struct machine_list *src)
{
	machine_list_free(dst);
	if (src == NULL || src->n <= 0)
		return;
	dst->v = xcalloc((size_t)src->n, sizeof(*dst->v));
	memcpy(dst->v, src->v, (size_t)src->n * sizeof(*dst->v));
	dst->n = src->n;
}
