/*
 * The fly provider's private parts, shared by provider_fly.c (the request
 * sequence: fly_next and the replies), provider_fly_plan.c (what an action
 * changes, in which order) and provider_fly_lease.c (machine leases beside
 * the action). Nothing else includes it.
 */
#ifndef FOD_PROVIDER_FLY_INT_H
#define FOD_PROVIDER_FLY_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <event2/event.h>

#include "config.h"
#include "fly_api.h"
#include "http.h"
#include "provider.h"

#define FLY_REQUEST_TIMEOUT_MS 30000 /* at most; never beyond ACTIVATION_TIMEOUT */
#define FLY_REQUEST_TIMEOUT_MIN_MS 1000
#define FLY_WAIT_SLACK_MS 15000 /* request timeout beyond the wait's own */
/* A remembered listing is used for this long past RECONCILE_INTERVAL. */
#define FLY_KNOWN_SLACK_MS 60000
/* Machine leases: short, so a lease left by a killed daemon holds the next
 * action back only briefly; at most the etcd lease (ELECTION_TTL's 10 s
 * default) so a deposed leader's lease lapses before a new leader acts. */
#define FLY_LEASE_TTL_S 10
#define FLY_LEASE_REFRESH_MS (FLY_LEASE_TTL_S * 1000 / 3)
/* A lease left by a killed holder is waited out at most this long in one
 * retry (its expires_at, from the server's clock). */
#define FLY_LEASE_WAIT_MAX_MS 30000
#define FLY_RELEASE_TIMEOUT_MS 5000
#define FLY_NONCE_HEADER "fly-machine-lease-nonce"

enum fly_phase {
	PH_IDLE,
	PH_LIST,
	PH_LEASE, /* taking a lease on each machine to change */
	PH_ACT, /* starting (activate) or stopping (deactivate) */
	PH_WAIT, /* waiting for each target */
};

enum fly_step {
	ST_LIST,
	ST_START,
	ST_STOP,
	ST_GET,
	ST_WAIT,
	ST_SUSPEND,
	ST_LEASE,
	ST_LEASE_GET, /* whose is the lease that answered 409? */
};

struct fly_lease {
	char id[MACHINE_ID_LEN];
	char nonce[64]; /* "" until acquired */
	bool refreshing; /* a refresh is in flight */
};

/* A request beside the action's own: a lease refresh or release. */
struct fly_bg {
	struct provider *p;
	struct http_req *req;
	bool release;
	char id[MACHINE_ID_LEN];
	char nonce[64];
	struct fly_bg *next;
};

struct provider {
	struct event_base *base;
	struct http *http;
	char *base_url;
	char *app;
	char *token; /* trimmed; only to redact it from server texts */
	char *auth; /* "Authorization: …", or NULL when no token */
	int count;
	int64_t request_timeout_ms; /* effective, from the two below */
	int wait_s;
	int64_t activation_timeout_ms; /* ACTIVATION_TIMEOUT */
	int64_t tune_request_ms; /* provider_fly_tune's, 0 = from the config */
	int tune_wait_s;
	int64_t known_max_age_ms;
	bool suspend_mode; /* FLY_STANDBY_MODE=suspended */
	bool suspend_op; /* this operation suspends (a DEACTIVATE in suspend_mode) */
	bool lease_on; /* FLY_LEASE=yes */
	bool lease_warned; /* the missing lease endpoint was reported */
	char *lease_body; /* {"ttl":…,"description":"failoverd HOST[/INSTANCE]"} */
	char *lease_desc; /* that description: a lease with it is this monitor's */
	struct fly_bg *bg; /* refreshes and releases in flight */
	int nrelease; /* releases among them */
	struct event *ev_refresh;

	/* The machines as the last successful operation left them: an
	 * activation may start from here instead of listing first. */
	struct machine_list known;
	int64_t known_mono;
	bool from_known; /* this attempt planned from `known` */

	/* The operation in flight. */
	bool busy;
	enum prov_op op;
	prov_done_cb *done;
	prov_progress_cb *progress;
	void *arg;
	struct event *ev; /* zero-delay: begin, or finish a failed set-up */
	bool pending; /* ev finishes with pending_* instead of beginning */
	enum prov_result pending_res;
	char pending_error[256];

	struct http_req *req;
	enum fly_step step;
	char *url;
	char *hdr_auth;
	char *hdr_nonce;
	const char *headers[6];

	enum fly_phase phase;
	struct machine_list ml;
	int *targets; /* indexes into ml */
	int ntargets;
	int idx; /* current target */
	int sub; /* step within the target in PH_ACT / PH_WAIT */
	bool after_timeout; /* the last wait of this target got a 408 */
	int shortfall; /* activate: machines wanted but not startable */
	int transient; /* activate: machines in a passing state */
	bool *stopped_instead; /* per target: suspend refused, stopped */
	struct fly_lease *leases; /* the machines this action changes */
	int nleases;
	int lease_idx;
	bool lease_wait; /* PH_LEASE waits for the last action's releases */
	bool lease_missing; /* this action goes on without leases */
	char notice[256];
	char suspend_err[200]; /* why the current target's suspend was refused */
	char lease_err[200]; /* the 409 on the current lease */
	bool lease_regot; /* the current lease was asked for again once */
};

void fly_redact(const struct provider *p, char *s, size_t len);
void fly_reset(struct provider *p);
void fly_finish(struct provider *p, enum prov_result res, int64_t retry_after_ms, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));
void fly_progress(struct provider *p, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void fly_finish_later(struct provider *p, enum prov_result res, const char *msg);
struct machine *fly_target(struct provider *p);
void fly_issue(struct provider *p, enum fly_step step, const char *method, char *url,
    const char *body, int64_t timeout_ms);
void fly_list(struct provider *p);
void fly_get(struct provider *p);
void fly_start_machine(struct provider *p);
void fly_suspend_machine(struct provider *p);
void fly_lease_machine(struct provider *p);
void fly_lease_get(struct provider *p);
void fly_stop_machine(struct provider *p);
void fly_wait(struct provider *p, const char *state);
void fly_next(struct provider *p);
void fly_after_get(struct provider *p);
void fly_http_done(const struct http_response *r, void *arg);
void fly_ev_cb(evutil_socket_t fd, short what, void *arg);
void fly_configure(struct provider *p, const struct config *cfg);
struct provider *fly_create(struct event_base *base, struct http *http, const struct config *cfg);
void fly_destroy(struct provider *p);
void fly_reconfigure(struct provider *p, const struct config *cfg);
int fly_start(
    struct provider *p, enum prov_op op, prov_done_cb *cb, prov_progress_cb *progress, void *arg);
void fly_cancel(struct provider *p);
void fly_bg_unlink(struct provider *p, struct fly_bg *b);
void fly_bg_start(struct provider *p, const char *id, const char *nonce, bool release);
struct fly_lease *fly_lease_of(struct provider *p, const char *id);
void fly_bg_done(const struct http_response *r, void *arg);
void fly_refresh_cb(evutil_socket_t fd, short what, void *arg);
void fly_leases_release(struct provider *p);
void fly_plan_leases(struct provider *p);
void fly_lease_owner(struct provider *p, const struct http_response *r);
void fly_lease_describe(struct provider *p, const struct config *cfg);
const char *fly_step_str(enum fly_step s);
enum fly_call fly_step_call(enum fly_step s);
void fly_step_what(struct provider *p, char *buf, size_t len);
bool fly_state_is(const struct machine *m, const char *s);
bool fly_state_startable(const struct machine *m);
bool fly_state_transient(const struct machine *m);
void fly_plan_clear(struct provider *p);
void fly_plan_activate(struct provider *p);
void fly_plan_deactivate(struct provider *p);
void fly_finish_activate(struct provider *p);
void fly_planned(struct provider *p);
const char *fly_deact_want(struct provider *p, const struct machine *m);
void fly_replan(struct provider *p);
bool fly_activate_from_known(struct provider *p);
void fly_timeouts(struct provider *p);

#endif
