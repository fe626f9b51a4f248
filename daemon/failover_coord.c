/*
 * The state machine's inputs for COORDINATOR=etcd (contract §9): a
 * follower mirrors the pair's state (fo_adopt), a new leader takes over
 * where the pair stands (fo_lead), a leader that loses its lease stops
 * deciding (fo_follow), and the live views' agreement gates the failover
 * and the failback (fo_agreement). Pure, like failover.c.
 */
#include <stdio.h>
#include <string.h>

#include "failover.h"
#include "failover_int.h"

void
fo_adopt(struct fo *fo, int64_t now, const struct fo_pair *pr)
{
	if (!fo->follower)
		return;
	fo->active = pr->active;
	fo->active_since = pr->active_since;
	if (pr->forced != fo->forced)
		fo_set_flags(fo, pr->forced, fo->degraded, pr->reason);
	if (fo->paused && !pr->paused)
		fo_do_resume(fo, "resumed"); /* as the leader did: counts reset, a check now */
	else if (pr->paused != fo->paused || (pr->paused && pr->paused_until != fo->paused_until)) {
		fo->paused = pr->paused;
		fo->paused_until = pr->paused ? pr->paused_until : 0;
		fo_emit(fo, FO_CH_PAUSE, fo->state, "%s", pr->paused ? "paused" : "resumed");
	}
	if (pr->state != fo->state) {
		fo->cause = pr->cause;
		if (pr->state == FO_FAILING_OVER || pr->state == FO_FAILING_BACK) {
			fo->trans_start = now;
			fo->timed_out = false;
		}
		fo_set_state(fo, now, pr->state, pr->reason);
	}
	fo->drift = fo->restart = false;
	fo->grace_held = false;
}

void
fo_follow(struct fo *fo, int64_t now)
{
	(void)now;
	if (fo->follower)
		return;
	fo->follower = true;
	fo_act_set(fo, FO_ACT_NONE);
	fo->want = FO_STARTING;
	fo->want_pause = false;
	fo->drift = fo->restart = false;
	fo->grace_held = false;
	fo->warm_due = false;
}

void
fo_lead(struct fo *fo, int64_t now)
{
	if (!fo->follower)
		return;
	fo->follower = false;
	fo->listed = false; /* drift and restarts wait for a listing of our own */
	fo->list_from = now;
	fo_act_set(fo, FO_ACT_NONE);
	switch (fo->state) {
	case FO_FAILING_OVER:
		fo_act_activate(fo, true);
		fo->trans_start = now;
		fo->timed_out = false;
		break;
	case FO_FAILING_BACK:
		fo_act_deactivate(fo, true);
		fo->trans_start = now;
		fo->timed_out = false;
		break;
	case FO_PRIMARY: fo->warm_due = fo->p.warm_standby; break;
	case FO_STARTING: /* nothing adopted: STATE_FILE's start-up decides */
	case FO_STANDBY: break;
	}
	fo_recompute(fo, now);
}

void
fo_agreement(struct fo *fo, int64_t now, bool over, bool back)
{
	if (fo->agree_over == over && fo->agree_back == back)
		return;
	fo->agree_over = over;
	fo->agree_back = back;
	fo_recompute(fo, now);
}
