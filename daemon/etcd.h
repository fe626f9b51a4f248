/*
 * An asynchronous client for etcd v3's JSON gateway (POST /v3/..., etcd >=
 * 3.4), over the daemon's libcurl multi glue (http.c): leases, put, range,
 * delete and guarded transactions. Nothing here blocks; every call ends in
 * exactly one callback from the event loop (unless cancelled).
 *
 * The gateway's quirks, as measured (shared/notes/wave2.md §2): keys and
 * values are base64; int64 fields (IDs, revisions, TTLs) arrive as JSON
 * strings (numbers are accepted too); proto3 leaves out every field that has
 * its zero value, so an absent field is 0/false/empty ("succeeded" absent =
 * the compare failed; a keepalive on an expired lease answers 200 without
 * "TTL" = the lease is lost). Errors: a non-200 status with
 * {"error","message","code"} (3.4) or {"code","message"} (3.6), and 200 with
 * {"error":{...}} for the streaming keepalive. The HTTP status decides first.
 *
 * Endpoints are tried in turn when a connection cannot be made (refused,
 * unreachable, DNS); the one that answered last is tried first next time,
 * unless it timed out or answered 5xx (a member without quorum): then the
 * next call starts at the next one.
 * One call's whole run, over every endpoint, is bounded by the timeout.
 * "Cannot connect" includes a connection closed before any reply, so a
 * resent request may have been applied once already: puts and revokes are
 * idempotent, a grant at worst leaks a lease that expires, and a guarded
 * txn's compare catches its own earlier success (a put-if-absent that
 * "fails" with its own lease on the key has in fact won).
 */
#ifndef FOD_ETCD_H
#define FOD_ETCD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct event_base;
struct http;
struct etcd;
struct etcd_call;
struct etcd_txn;

#define ETCD_MIN_TTL 2 /* seconds; etcd raises a shorter grant to its minimum */
#define ETCD_MAX_ENDPOINTS 16

enum etcd_op {
	ETCD_OP_AUTH,
	ETCD_OP_GRANT,
	ETCD_OP_KEEPALIVE,
	ETCD_OP_REVOKE,
	ETCD_OP_PUT,
	ETCD_OP_RANGE,
	ETCD_OP_DELETE,
	ETCD_OP_TXN,
};

const char *etcd_op_str(enum etcd_op); /* "grant", "keepalive", ... */

struct etcd_kv {
	char *key; /* decoded, NUL-terminated (keys are text here) */
	char *value; /* decoded, NUL-terminated; value_len excludes the NUL */
	size_t value_len;
	int64_t create_revision, mod_revision, version, lease;
};

struct etcd_range {
	struct etcd_kv *kvs;
	size_t nkvs;
	int64_t count; /* how many keys matched (may exceed nkvs with a limit) */
	bool more;
};

enum etcd_resp_kind { ETCD_RESP_PUT, ETCD_RESP_RANGE, ETCD_RESP_DELETE };

/* One entry of a transaction's "responses", in the order of the ops run. */
struct etcd_txn_resp {
	enum etcd_resp_kind kind;
	struct etcd_range range; /* ETCD_RESP_RANGE */
	int64_t deleted; /* ETCD_RESP_DELETE */
};

struct etcd_result {
	enum etcd_op op;
	bool ok; /* a 200 reply that parsed; all fields below are valid */
	char error[256]; /* when !ok: what went wrong; never holds a secret */
	int status; /* HTTP status of the last attempt, 0 without a reply */
	const char *endpoint; /* the endpoint of the last attempt, or NULL */
	/* Monotonic ms (util_mono_ms) at which the answered request was sent
	 * (set just before it is handed to libcurl, so never later than the
	 * real send): a lease renewed by it lives at least until
	 * sent_mono + TTL on etcd's side. 0 when nothing was sent. */
	int64_t sent_mono;
	int64_t revision; /* header.revision */
	/* grant, keepalive */
	int64_t lease_id;
	int64_t ttl; /* seconds; keepalive: 0 with lease_lost */
	bool lease_lost; /* keepalive: 200 without TTL (expired or unknown) */
	/* txn */
	bool succeeded;
	struct etcd_txn_resp *responses;
	size_t nresponses;
	/* range; delete: range.count unused, deleted set */
	struct etcd_range range;
	int64_t deleted;
	/* auth (internal) */
	char *token;
};

typedef void etcd_cb(const struct etcd_result *res, void *arg);

struct etcd_config {
	const char *endpoints; /* "http://a:2379,https://b:2379" */
	int64_t timeout_ms; /* per call, across endpoints; 0 = 2000 */
	const char *user; /* NULL: no authentication */
	const char *password; /* with user; kept in memory only, never logged */
	const char *ca_file; /* TLS trust; NULL = the system store */
	const char *cert_file, *key_file; /* TLS client certificate, or NULL */
};

/*
 * Parses the endpoint list: 1..ETCD_MAX_ENDPOINTS http(s)://host[:port]
 * URLs without path, query, user info or fragment. Returns the count, or -1
 * with err set. out (may be NULL) gets malloc'd copies without a trailing /.
 */
int etcd_endpoints_parse(const char *list, char **out, size_t max, char *err, size_t errlen);

/* NULL with err set when the configuration is unusable. */
struct etcd *etcd_new(
    struct event_base *, struct http *, const struct etcd_config *, char *err, size_t errlen);
/* Cancels every call in flight (their callbacks are not called). */
void etcd_free(struct etcd *);

/*
 * The calls. Each returns a handle for etcd_cancel, or NULL when the call
 * could not even be started (bad argument; then cb is not called). The
 * result passed to cb lives only for the duration of the callback. Keys are
 * C strings; values are bytes (vlen) and may hold NULs.
 */
struct etcd_call *etcd_lease_grant(struct etcd *, int64_t ttl_s, etcd_cb *, void *);
struct etcd_call *etcd_lease_keepalive(struct etcd *, int64_t id, etcd_cb *, void *);
struct etcd_call *etcd_lease_revoke(struct etcd *, int64_t id, etcd_cb *, void *);
struct etcd_call *etcd_put(struct etcd *, const char *key, const void *value, size_t vlen,
    int64_t lease, etcd_cb *, void *);
/* prefix: every key starting with key. */
struct etcd_call *etcd_range(struct etcd *, const char *key, bool prefix, etcd_cb *, void *);
struct etcd_call *etcd_delete(struct etcd *, const char *key, bool prefix, etcd_cb *, void *);
/* The transaction is copied; the caller still frees it. */
struct etcd_call *etcd_txn_run(struct etcd *, const struct etcd_txn *, etcd_cb *, void *);
/* Stops a call in flight; its callback will not be called. NULL is fine.
 * A handle is dead once its callback starts: never cancel it from there
 * (cancelling other calls, or etcd_free, from a callback is fine). */
void etcd_cancel(struct etcd_call *);

/*
 * A transaction: if every compare holds, the success ops run, else the
 * failure ops. Compares on a key's create_revision (0 = the key does not
 * exist), mod_revision, version, or value.
 */
enum etcd_target { ETCD_CREATE, ETCD_MOD, ETCD_VERSION, ETCD_VALUE };
enum etcd_cmp { ETCD_EQUAL, ETCD_NOT_EQUAL, ETCD_GREATER, ETCD_LESS };

struct etcd_txn *etcd_txn_new(void);
void etcd_txn_free(struct etcd_txn *);
/* For ETCD_VALUE, value/vlen; otherwise n. */
void etcd_txn_compare(struct etcd_txn *, const char *key, enum etcd_target, enum etcd_cmp,
    int64_t n, const void *value, size_t vlen);
void etcd_txn_put(struct etcd_txn *, bool on_success, const char *key, const void *value,
    size_t vlen, int64_t lease);
void etcd_txn_delete(struct etcd_txn *, bool on_success, const char *key, bool prefix);
void etcd_txn_range(struct etcd_txn *, bool on_success, const char *key, bool prefix);
/* The request body, for tests (malloc'd). */
char *etcd_txn_body(const struct etcd_txn *);

/* --- pure parts, exposed for the unit tests and the fuzzer --------------- */

/*
 * Parses one reply of op: HTTP status and body (len bytes, NUL-terminated).
 * Fills res (which must be zeroed or cleared) and returns 0, or returns -1
 * with only res->error, op and status set (nothing half-parsed is left).
 * Never crashes on any input.
 */
int etcd_parse_reply(
    enum etcd_op, int status, const char *body, size_t len, struct etcd_result *res);
/* Frees what a result owns and zeroes it. */
void etcd_result_clear(struct etcd_result *);

/* Base64 (RFC 4648, with padding). encode: malloc'd string. decode: -1 on
 * anything that is not strict base64; else the length, *out malloc'd and
 * NUL-terminated. */
char *etcd_b64_encode(const void *data, size_t len);
ssize_t etcd_b64_decode(const char *s, size_t slen, char **out);
/* The range_end that selects every key starting with key (etcd's
 * GetPrefixRangeEnd): malloc'd bytes in *out, length returned; "\0" (1
 * byte) when key is all 0xff or empty, meaning "to the end". */
size_t etcd_prefix_end(const char *key, char **out);

#endif

/*
 * DESIGN NOTE for the coordination (daemon/coord.c, coord_msg.c,
 * coord_status.c; CONTRACT §9 rules 1-8). Everything below is built from
 * the calls above; test_etcd.py proves each primitive against a real etcd,
 * test_coord.py and test_cluster.py the whole.
 *
 * Keys, all under P = ETCD_PREFIX (with a trailing "/"); values are JSON:
 *   P/members/NODE   this monitor's view, bound to its own lease (rule 1):
 *                    {"node","state_dir":bool,"healthy","failures",
 *                     "successes","at"}; put after every check.
 *   P/leader         NODE, bound to the leader's lease (rule 2). Its
 *                    create_revision is the epoch, the fencing token.
 *   P/state          the pair's state (rule 2): §2 state, forced, paused,
 *                    counters, epoch, and the action in progress
 *                    {"step","machine","at"}; no lease (it must outlive
 *                    leaders).
 *   P/pair           {"app": FLY_APP}: written once by the first monitor;
 *                    a monitor of another app refuses to join.
 *   P/request/NODE/ID  leader -> NODE (the STATE_DIR monitor): {"id","what":
 *                    "push"|"pull"|"sync-push"|"sync-pull","from"} for the
 *                    final push, the failback pull (+ FAILBACK_CMD) and
 *                    the `sync` command (rule 5), bound to the leader's lease.
 *   P/answer/ID      NODE -> leader: {"id","ok","why","node"}, bound to
 *                    NODE's lease (NODE's view gone: the leader stops waiting).
 *   P/command/NODE/ID  a pair-wide command given to follower NODE (rule 6):
 *                    {"id","from","req"}, bound to NODE's lease; the leader
 *                    runs it and answers in P/result/NODE/ID {"id",
 *                    "acted_by","reply"}. No leader: `unavailable`.
 * No key name is a prefix of another's (a range on P/members/ must not see
 * P/membersX; the leader key is read with a plain range, never a prefix).
 *
 * Lease and self-fence (rule 4). Grant ELECTION_TTL; keepalive every
 * TTL/3 with the etcd timeout below TTL/3 (min(2 s, TTL/3)); renew only
 * while the last check ended within 3 x CHECK_INTERVAL + CHECK_TIMEOUT
 * (rule 1). held_until = res->sent_mono of the last keepalive that came
 * back ok && !lease_lost, + TTL x 2/3 (sent_mono is taken before the
 * request leaves, so this errs early). Past held_until: cancel every etcd
 * and provider call in flight, stop acting, emit `isolated`, run
 * SELF_FENCE_CMD once (hook `self-fence`). lease_lost: the view and any
 * leadership are gone; grant a new lease, put the view again, campaign.
 *
 * Election (rule 2). Campaign = txn compare CREATE(P/leader) == 0 ->
 * put(P/leader, NODE, lease), failure -> range(P/leader). Won if succeeded,
 * or if the failure range shows our own lease (a resent txn after a
 * dropped connection: etcd.h's failover note). Epoch = the key's
 * create_revision (read it back after a win). Followers retry the campaign
 * on every poll that finds P/leader absent, so a new leader is in place
 * within ELECTION_TTL + one poll (poll <= 1 s keeps rule 8's + 2 s).
 *
 * Fencing (rule 2). Before every action step (begin failover, each Fly
 * start/stop, begin failback) the leader writes the step into P/state by
 * txn compare CREATE(P/leader) == epoch [&& MOD(P/state) == the mod
 * revision it last read, against lost updates] -> put(P/state). Only
 * after `succeeded` does it send the Fly request. Not succeeded (or an
 * error, or held_until passed): abandon the action at once, `fencing`
 * error event, become follower. A new leader reads P/state, lists the
 * machines as at start-up, and continues the recorded step without
 * starting a machine twice.
 *
 * Agreement (rule 3). One range of P/members/ (prefix) gives the live
 * views (a view counts exactly while its lease lives). Fail over only when
 * every live view is unhealthy with failures >= FAILURE_THRESHOLD; fail
 * back only when every live view has successes >= RECOVERY_THRESHOLD.
 * The holders-back go to status and to a `quorum` event when the set
 * changes (never per check).
 *
 * Polling. Every monitor polls one range of P/ (prefix) every second:
 * leader, state, views, requests and commands at one header.revision.
 * Followers mirror P/state into their status. Watches are not needed.
 *
 * etcd unreachable (rule 7): no one acts; checks, status and events go on;
 * coordination.ok false and one `error` event what "etcd" per outage.
 */
