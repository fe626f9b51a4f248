"""The checker of issue 12 (CONTRACT §9 rule 8): over the fake Fly API's
request log and the leader terms seen in etcd, it fails on

  (a) two monitors issuing start/stop/suspend in overlapping terms: in the
      order the fake received them, the term (epoch) of the sender never
      goes back, so no two senders interleave;
  (b) a second start of one machine within one failover: between two
      accepted stops (or suspends) of a machine, at most one accepted start;
  (c) a start/stop/suspend from a monitor that was not the leader at that
      moment: the request came while a term of its sender was open — from
      SLACK seconds before the watcher saw the leader key put (the watcher
      polls; the new leader may be quicker than its poll) until the watcher
      saw the key gone, never later; and never while another monitor's key
      was surely held (a term's optional fifth field, held_until: the key
      was seen from put_seen until a poll that began at held_until, so it
      was there all along; the slack cannot reach into that).

A request is one record of fakes/fake_fly.py: {"method", "path", "time",
"status", "port"}; node_of_port maps the port each monitor was given to its
name. A term is (node, epoch, put_seen, gone_seen or None[, held_until]), from
clusterfix.LeaderWatch. check() returns a list of failures (empty: passed).
"""

SLACK = 0.5  # seconds: how late the watcher may see a new leader's put


def fly_writes(requests):
    return [r for r in requests if r["method"] == "POST" and
            r["path"].rsplit("/", 1)[-1] in ("start", "stop", "suspend")]


def _machine(r):
    parts = r["path"].split("/")
    return parts[-2] if len(parts) >= 2 else "?"


def check(requests, terms, node_of_port, slack=SLACK):
    fails = []
    writes = sorted(fly_writes(requests), key=lambda r: r["time"])
    last_epoch, last_node = None, None
    for r in writes:
        node = node_of_port.get(r.get("port"), "?port%s" % r.get("port"))
        what = "%s %s from %s at %.3f" % (r["path"].rsplit("/", 1)[-1], _machine(r), node,
                                          r["time"])
        term = None
        for t in terms:
            if t[0] == node and t[2] - slack <= r["time"] and \
                    (t[3] is None or r["time"] <= t[3]):
                term = t
        if term is None:
            fails.append("(c) %s: %s was not the leader then (terms: %s)"
                         % (what, node, _fmt_terms(terms)))
            continue
        held = [t for t in terms if t[0] != node and len(t) > 4 and t[2] <= r["time"] <= t[4]]
        if held:
            fails.append("(c) %s: %s's key (epoch %d) was surely held then (terms: %s)"
                         % (what, held[0][0], held[0][1], _fmt_terms(terms)))
            continue
        if last_epoch is not None and term[1] < last_epoch:
            fails.append("(a) %s in term %d after %s's request in term %d: overlapping terms"
                         % (what, term[1], last_node, last_epoch))
        if last_epoch is None or term[1] >= last_epoch:
            last_epoch, last_node = term[1], node
    started = {}
    for r in writes:
        if r.get("status") != 200:
            continue
        m, op = _machine(r), r["path"].rsplit("/", 1)[-1]
        if op == "start":
            if started.get(m):
                fails.append("(b) machine %s started a second time at %.3f within one "
                             "failover" % (m, r["time"]))
            started[m] = True
        else:
            started[m] = False
    return fails


def _fmt_terms(terms):
    return ", ".join("%s/%d [%.3f, %s]" % (t[0], t[1], t[2],
                                           "open" if t[3] is None else "%.3f" % t[3])
                     for t in terms)
