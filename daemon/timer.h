/*
 * One way to arm a libevent timer from a delay in milliseconds (a negative
 * delay is due at once), for every daemon module.
 */
#ifndef FOD_TIMER_H
#define FOD_TIMER_H

#include <stdint.h>

#include <event2/event.h>

#include "util.h"

static inline void
util_timer_in(struct event *ev, int64_t ms)
{
	struct timeval tv = util_ms_tv(ms);

	evtimer_add(ev, &tv);
}

#endif
