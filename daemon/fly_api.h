/*
 * The Fly Machines API, without the I/O: the Authorization header, URLs,
 * and what a reply means. provider_fly.c does the requests; everything it
 * decides from a status code or a body is here, so it is unit-tested
 * against malformed replies directly. Nothing here ever puts the token in
 * an error message.
 */
#ifndef FOD_FLY_API_H
#define FOD_FLY_API_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "provider.h"

#define FLY_DEFAULT_BASE "https://api.machines.dev"
#define FLY_WAIT_MAX_S 60 /* the API rejects a longer wait */
#define FLY_MAX_MACHINES 1024 /* a longer list is not a reply we trust */
#define FLY_NAME_MAX 63 /* app names and machine ids */

/* Which call a reply answers: a status means different things for each. */
enum fly_call {
	FLY_CALL_LIST,
	FLY_CALL_GET,
	FLY_CALL_START,
	FLY_CALL_STOP,
	FLY_CALL_WAIT,
	FLY_CALL_SUSPEND,
	FLY_CALL_LEASE, /* acquire or refresh: POST …/lease */
	FLY_CALL_RELEASE, /* DELETE …/lease */
};

enum fly_verdict {
	FLY_V_OK,
	FLY_V_REISSUE, /* 408 from /wait: ask again at once */
	FLY_V_RETRY, /* 408 elsewhere, 409, 412, 429, 5xx, 404 on a machine */
	FLY_V_CONFIG, /* 401, 403, 404 on the app list */
	FLY_V_FAILED, /* 400 and every other status */
};

enum fly_verdict fly_classify(enum fly_call, int status);
/* FLY_V_REISSUE maps to PROV_RETRY (what it is if the caller gives up). */
enum prov_result fly_verdict_result(enum fly_verdict);

/*
 * "Authorization: FlyV1 fm2_…" when a comma-separated part of the token
 * starts with fm1r_ or fm2_, the token as is when it already starts with
 * "FlyV1 " or "Bearer ", else "Authorization: Bearer …". Surrounding
 * whitespace is trimmed. NULL for an empty token or one with a control
 * character (it would break the header). The result is a secret.
 */
char *fly_auth_header(const char *token);

/* App names and machine ids: 1-63 of [A-Za-z0-9_-]; nothing that could
 * change the path or the query. */
bool fly_name_valid(const char *);

/*
 * URLs; base is FLY_API_HOSTNAME (NULL or "" = FLY_DEFAULT_BASE; trailing
 * slashes dropped). NULL when the app, id or instance id is not valid.
 * action is NULL (the machine itself), "start", "stop", ...
 */
char *fly_url_list(const char *base, const char *app);
char *fly_url_machine(const char *base, const char *app, const char *id, const char *action);
/* /wait?state=S&timeout=T[&instance_id=I]; T is clamped to [1, 60].
 * instance_id NULL or "" is left out. */
char *fly_url_wait(const char *base, const char *app, const char *id, const char *state,
    const char *instance_id, int timeout_s);

/*
 * Replies. Each returns 0, or -1 with a short message in err (which never
 * quotes more than a few bytes of the body). Strings too long for their
 * field are truncated, except ids, which are rejected: a cut id names
 * another machine.
 */
int fly_parse_machines(const char *body, struct machine_list *out, char *err, size_t errlen);
int fly_parse_machine(const char *body, struct machine *out, char *err, size_t errlen);
/* {"previous_state":"stopped",...}: prev gets "" when absent. */
int fly_parse_start(const char *body, char *prev, size_t prevlen, char *err, size_t errlen);
/* {"ok":true} from stop, suspend and wait; "ok" false or absent is -1. */
int fly_parse_ok(const char *body, char *err, size_t errlen);
/*
 * A lease reply {"status":"success","data":{"nonce":"…","owner":"…",
 * "description":"…","expires_at":N,…}}: the nonce must be 1-63 of
 * [A-Za-z0-9_-] (it goes into a header); owner and description are
 * truncated, control characters become '?'; expires_at is 0 when absent.
 */
struct fly_lease_info {
	char nonce[64];
	char owner[128];
	char description[128];
	int64_t expires_at; /* Unix seconds */
};
int fly_parse_lease(const char *body, struct fly_lease_info *out, char *err, size_t errlen);

/*
 * Whether Fly can suspend the machine (its docs: memory ≤ 2048 MB, no swap,
 * no schedule; GPUs are not seen here). false with the reasons in why
 * ("memory 4096 MB > 2048; swap 512 MB; a schedule").
 */
#define FLY_SUSPEND_MAX_MEMORY_MB 2048
bool fly_suspend_eligible(const struct machine *, char *why, size_t len);

/*
 * A human error for a non-2xx reply, "412 failed_precondition: unable to
 * start machine from current state: 'stopping'", from {"error","status",
 * "message"} or the status line alone. 401 and 403 always say to check
 * FLY_API_TOKEN. Control characters become '?'; the text is truncated to
 * fit. Returns buf.
 */
char *fly_error_text(int status, const char *body, char *buf, size_t len);

/* Machines as the API names their states. */
/* started, starting (provider.c's machine_state_running) */
static inline bool
fly_state_running(const char *state)
{
	return machine_state_running(state);
}

#endif
