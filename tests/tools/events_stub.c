/* The test tools' stand-in for the daemon's events.c: see events_stub.h. */
#include "events_stub.h"
#include "util.h"

const struct evrec *
events_emit(struct events *ev, const char *type, json_object *fields)
{
	json_object *o = json_object_new_object();

	json_object_object_add(o, "type", json_object_new_string(type));
	json_object_object_add(o, "t_ms", json_object_new_int64(util_mono_ms() - ev->t0));
	if (fields != NULL) {
		json_object_object_foreach(fields, k, v)
		{
			json_object_object_add(o, k, json_object_get(v));
		}
		json_object_put(fields);
	}
	json_object_array_add(ev->list, o);
	++ev->seq;
	return NULL;
}
