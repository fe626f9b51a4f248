/*
 * The engine: turns health checks, provider results, commands and timers
 * into inputs of the pure state machine (failover.c) and carries out the
 * actions it asks for. The only place where failover I/O is sequenced.
 */
#ifndef FOD_ENGINE_H
#define FOD_ENGINE_H

#include <stdbool.h>
#include <stdint.h>

#include <json-c/json.h>

struct daemon;
struct request;
struct engine;

struct engine *engine_new(struct daemon *);
void engine_start(struct engine *);
/* The daemon is stopping: no new action; a Telegram message says so and
 * what is pending gets up to 2 s to be delivered (runs the loop). */
void engine_shutdown(struct engine *);
void engine_free(struct engine *);
/* A run is due in this loop pass (engine_mark was called): it saves what
 * STATE_FILE is due at its end. */
bool engine_marked(const struct engine *);
/* After a successful reload (d->cfg is the new config). */
void engine_reconfigure(struct engine *);
/* The pause (contract §5: `pause`, `resume`), owned by the state machine
 * with its expiry: until_wall is wall ms, 0 = until resume. */
void engine_pause(struct engine *, int64_t until_wall);
void engine_resume(struct engine *);
/* Paused now; *until_wall (may be NULL) gets the expiry, 0 = none. */
bool engine_paused(struct engine *, int64_t *until_wall);

/* status.c: adds state, state_since, reason, forced, degraded, local,
 * standby, sync, notify and counters to a status object. */
void engine_status(struct engine *, json_object *status);
const char *engine_state_str(const struct engine *);

/* Commands; each replies to the request exactly once. */
void engine_cmd_check(struct engine *, struct request *);
void engine_cmd_force_activate(struct engine *, struct request *, const char *reason, bool wait);
/* With force onto a primary that is not healthy, the daemon pauses for
 * pause_ms (like `pause`), so it does not fail straight over again. */
#define FORCE_PAUSE_DEFAULT_MS (10 * 60 * 1000)
void engine_cmd_force_deactivate(
    struct engine *, struct request *, const char *reason, bool force, bool wait, int64_t pause_ms);
void engine_cmd_selftest(struct engine *, struct request *, bool telegram);
void engine_cmd_sync(struct engine *, struct request *, bool push, bool force);

#endif
