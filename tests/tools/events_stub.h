/*
 * events.c belongs to the daemon; test tools that drive a module emitting
 * events (synctool, notifytool) link this stand-in, which records every
 * event with its milliseconds since t0 into a JSON array.
 */
#ifndef FOD_EVENTS_STUB_H
#define FOD_EVENTS_STUB_H

#include <stdint.h>

#include <json-c/json.h>

#include "events.h"

struct events {
	json_object *list; /* the events emitted, oldest first */
	int64_t t0; /* util_mono_ms() at the start */
	uint64_t seq;
};

#endif
