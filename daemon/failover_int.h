/*
 * The state machine's own helpers, shared by failover.c (the machine) and
 * failover_coord.c (its COORDINATOR=etcd inputs) and nothing else.
 */
#ifndef FOD_FAILOVER_INT_H
#define FOD_FAILOVER_INT_H

#include "failover.h"

void fo_emit(struct fo *, enum fo_change_kind, enum fo_state from, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void fo_set_state(struct fo *, int64_t now, enum fo_state to, const char *reason);
void fo_set_flags(struct fo *, bool forced, bool degraded, const char *reason);
/* Makes a new current action; one in flight is superseded. */
void fo_act_set(struct fo *, enum fo_act);
void fo_act_activate(struct fo *, bool resumed);
void fo_act_deactivate(struct fo *, bool resumed);
/* The pause ends: counts reset, a check at once. */
void fo_do_resume(struct fo *, const char *why);
/* The one place the state changes. */
void fo_recompute(struct fo *, int64_t now);

#endif
