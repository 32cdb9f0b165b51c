#!/usr/bin/env python3
"""Checks a verifier's Redis against an independent model of the verifier's rules (docs/daemon.md, "Rules").

Used by daemon_verifier.sh. Talks RESP to redis-server directly (no client library needed).
  scoring  PORT PASSWORD PREFIX PARAMS.json  -- replays the challenge log through the rules (rewards,
           EMA, decay, tiers, epochs, weights) and compares every logged reward and the final Redis state
  log      PORT PASSWORD PREFIX PARAMS.json  -- the log holds steps 1..state.step once each, and the
           counters equal the challenges the log (and the provers) saw
  exact    PORT PASSWORD PREFIX PARAMS.json  -- both: every counter, score and weight in Redis is the rules'
           replay of a log that holds every step once (daemon_faults.sh, after each fault)
Prints "ok ..." / "FAIL ..." lines; the exit status is the number of failures.
"""
import json
import math
import socket
import sys

TIERS = [("Bronze", 0.50, 500, 0.444), ("Silver", 0.60, 1000, 0.555), ("Gold", 0.70, 5000, 0.666),
         ("Platinum", 0.72, 7500, 0.777), ("Diamond", 0.74, 10000, 0.888), ("Emerald", 0.78, 12500, 0.900),
         ("Ruby", 0.82, 15000, 0.920), ("Jade", 0.88, 17500, 0.940), ("Master", 0.92, 20000, 0.960),
         ("Grandmaster", 0.96, 22500, 0.980), ("Challenger", 0.99, 25000, 1.000)]
TIER_INDEX = {t[0]: i for i, t in enumerate(TIERS)}
STATS_FIELDS = {"challenge_attempts", "challenge_successes", "inference_attempts", "inference_successes",
                "total_successes", "interval_successes", "tier", "request_limit", "last_epoch_step", "latency_ewma_ms"}

fails = 0


def check(cond, what):
    global fails
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        fails += 1


class Redis:
    def __init__(self, port, password):
        self.s = socket.create_connection(("127.0.0.1", int(port)))
        self.f = self.s.makefile("rb")
        if password:
            self("AUTH", password)

    def __call__(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.s.sendall(out)
        return self.read()

    def read(self):
        line = self.f.readline()[:-2]
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RuntimeError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)[:-2]
            return data.decode()
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise RuntimeError("bad reply %r" % line)

    def hash(self, key):
        r = self(b"HGETALL", key)
        return dict(zip(r[0::2], r[1::2]))


def near(a, b, rel=1e-9):
    return abs(a - b) <= rel * (1 + abs(b))


def log_entries(r, prefix):
    out = []
    for _id, fields in r("XRANGE", prefix + "challenges", "-", "+"):
        d = dict(zip(fields[0::2], fields[1::2]))
        out.append((_id, json.loads(d["data"])))
    return out


def rewards(entries, tiers_now, timeout, mode):
    t = [p["latency_ms"] / 1e3 for p in entries]
    mean = sum(t) / len(t)
    lo, hi = min(t), max(t)
    k, shift = 7.0 / timeout, 0.3 * timeout
    out = []
    for p, ti, tier in zip(entries, t, tiers_now):
        base = TIERS[tier][3] if p["verdict"] == "ok" else -0.01
        if mode == "sigmoid":
            n = 1.0 / (1.0 + math.exp(k * ((ti - mean) - shift)))
        else:
            n = (ti - hi) / (hi - lo) if hi > lo else 0.5
        out.append(base * (1 + n))
    return out


def scoring(r, prefix, params):
    """Replays the log through the rules from the seeded starting stats."""
    sim = {}
    for hk, seed in params["seed_stats"].items():
        s = {f: 0 for f in STATS_FIELDS}
        s.update({"tier": 0, "request_limit": 500, "latency_ewma_ms": 0.0, "score": 0.0})
        s.update(seed)
        s["tier"] = TIER_INDEX[s["tier"]] if isinstance(s["tier"], str) else s["tier"]
        sim[hk] = s
    interval, epoch = params["interval"], params["epoch"]
    next_interval, next_epoch = interval, epoch
    alpha, decay, timeout = params["alpha"], params["decay"], params["timeout"]
    entries = [e for _, e in log_entries(r, prefix) if e["kind"] == "challenge"]
    reward_err = 0
    weights, version, moves = {}, 0, []
    for e in entries:
        step = e["step"]
        ps = e["provers"]
        for p in ps:
            if p["verdict"] != "unjudged":  # unjudged answers leave a new prover unknown
                sim.setdefault(p["hotkey"], {f: 0 for f in STATS_FIELDS} | {"tier": 0, "request_limit": 500,
                                                                              "latency_ewma_ms": 0.0, "score": 0.0})
        want = rewards(ps, [sim.get(p["hotkey"], {"tier": 0})["tier"] for p in ps], timeout, params.get("speed_mode", "sigmoid"))
        for p, w in zip(ps, want):
            if not near(p["reward"], w):
                reward_err += 1
            if p["verdict"] == "unjudged":  # the verifier's own failure (or its clock's): not recorded
                continue
            s = sim[p["hotkey"]]
            ok = p["verdict"] == "ok"
            s["challenge_attempts"] += 1
            if ok:
                s["challenge_successes"] += 1
                s["interval_successes"] += 1
                s["total_successes"] += 1
                ms = p["latency_ms"]
                s["latency_ewma_ms"] = 0.8 * s["latency_ewma_ms"] + 0.2 * ms if s["latency_ewma_ms"] > 0 else ms
            s["score"] = alpha * w + (1 - alpha) * s["score"]
        for s in sim.values():
            s["score"] = max(0.0, s["score"] - decay)
        if step >= next_interval:
            for hk, s in sim.items():
                move = 0
                if s["challenge_attempts"] > 0:
                    rate = s["challenge_successes"] / s["challenge_attempts"]
                    t = s["tier"]
                    if t + 1 < len(TIERS) and rate >= TIERS[t + 1][1] and s["total_successes"] >= TIERS[t + 1][2]:
                        move = 1
                    elif t > 0 and rate < TIERS[t][1]:
                        move = -1
                if move:
                    moves.append((step, hk, TIERS[s["tier"]][0], TIERS[s["tier"] + move][0]))
                s["tier"] += move
                s["request_limit"] = TIERS[s["tier"]][2]
                for f in ("challenge_attempts", "challenge_successes", "inference_attempts", "inference_successes",
                          "interval_successes"):
                    s[f] = 0
            total = sum(max(s["score"], 0) for s in sim.values())
            weights = {hk: (s["score"] / total if total > 0 and s["score"] > 0 else 0.0) for hk, s in sim.items()}
            version += 1
            next_interval = step + interval
        if step >= next_epoch:
            for s in sim.values():
                if s["tier"] <= 1:
                    s["tier"], s["total_successes"] = 0, 0
                else:
                    s["total_successes"] = TIERS[s["tier"]][2]
                s["request_limit"] = TIERS[s["tier"]][2]
                s["last_epoch_step"] = step
            next_epoch = step + epoch
    check(len(entries) == params["steps"], "the log holds %d challenges (want %d)" % (len(entries), params["steps"]))
    check(reward_err == 0, "every logged reward is the rules' reward (%d differ)" % reward_err)
    for step, hk, a, b in moves:
        print("     step %d: %s %s -> %s" % (step, params["names"].get(hk, hk[:8]), a, b))
    want_moves = [tuple(m) for m in params.get("moves", [])]
    got_moves = [(step, params["names"].get(hk, hk[:8]), a, b) for step, hk, a, b in moves]
    check(got_moves == want_moves, "the tier moves are the expected ones")
    scores = r.hash(prefix + "scores")
    for hk, s in sim.items():
        name = params["names"].get(hk, hk[:8])
        st = r.hash(prefix + "stats:" + hk)
        check(set(st) == STATS_FIELDS, "%s: the stats hash has exactly the schema's fields" % name)
        same = all(int(st[f]) == s[f] for f in ("challenge_attempts", "challenge_successes", "inference_attempts",
                                               "inference_successes", "total_successes", "interval_successes",
                                               "request_limit", "last_epoch_step"))
        same = same and st["tier"] == TIERS[s["tier"]][0] and near(float(st["latency_ewma_ms"]), s["latency_ewma_ms"], 1e-9)
        check(same, "%s: Redis stats equal the model's (%s, %s total successes)" % (name, TIERS[s["tier"]][0], s["total_successes"]))
        check(near(float(scores[hk]), s["score"]), "%s: score %.6f equals the model's %.6f" % (name, float(scores[hk]), s["score"]))
    for hk, want in params.get("final_tiers", {}).items():
        check(TIERS[sim[hk]["tier"]][0] == want, "%s ends %s" % (params["names"].get(hk, hk[:8]), want))
    w = r.hash(prefix + "weights")
    check(int(w.pop("version", 0)) == version, "weights version %d (one per interval end)" % version)
    check(set(w) == set(weights) and all(near(float(w[hk]), weights[hk]) for hk in weights),
          "the published weights are the L1-normalised scores of the last interval end")
    order = params.get("score_order", [])
    vals = [float(scores[hk]) for hk in order]
    check(all(a > b for a, b in zip(vals, vals[1:])),
          "scores in the expected order: " + " > ".join("%s %.4f" % (params["names"][hk], v) for hk, v in zip(order, vals)))
    for hk in params.get("zero_scores", []):
        check(float(scores[hk]) == 0.0, "%s: score 0 (failures only; scores are floored at 0)" % params["names"][hk])
    state = r.hash(prefix + "state")
    check({"step", "next_interval_step", "next_epoch_step", "schema"} <= set(state) and int(state["step"]) == params["steps"]
          and int(state["next_interval_step"]) == next_interval and int(state["next_epoch_step"]) == next_epoch,
          "state: step %s, next interval %s, next epoch %s" % (state.get("step"), state.get("next_interval_step"), state.get("next_epoch_step")))
    keys = sorted(r("KEYS", prefix + "*"))
    want_keys = sorted([prefix + "state", prefix + "challenges"] + ([prefix + "scores"] if sim else []) +
                       ([prefix + "weights"] if version else []) + [prefix + "stats:" + hk for hk in sim])
    check(keys == want_keys, "Redis holds exactly the schema's keys (%d)" % len(keys))
    check(r("TYPE", prefix + "challenges") == "stream" and r("TYPE", prefix + "state") == "hash", "key types")


def verdicts(r, prefix, params):
    """Each prover's verdicts are what its behaviour must give."""
    entries = [e for _, e in log_entries(r, prefix) if e["kind"] == "challenge"]
    names = params["names"]
    by = {}
    for e in entries:
        for p in e["provers"]:
            by.setdefault(names.get(p["hotkey"], "?"), []).append((e, p))
    for name in ("honest", "slow"):
        got = by.get(name, [])
        check(got and all(p["verdict"] == "ok" and p["checked_step"] >= 0 for _, p in got),
              "%s: all %d challenges pass a spot check" % (name, len(got)))
    got = by.get("down", [])
    check(got and all(p["verdict"] == "fail" and p["reason"].startswith("no answer") for _, p in got),
          "down: all %d challenges fail with no answer" % len(got))
    # The liar flips one low bit of the latent after its step `liar_step` (1-based) and hashes that into
    # its chain. A check of the step that made it (0-based liar_step - 1) always fails: the recomputed
    # latent differs in that bit. Checks of steps after the first later step that sees it usually fail,
    # but a flip can be absorbed by rounding there, and then the chain is consistent at that step. Steps
    # that neither make nor see it always pass.
    got = by.get("liar", [])
    made, seen_by = params["liar_step"] - 1, params["liar_seen_by"]
    at_made = [p for _, p in got if p["checked_step"] == made]
    clean = [p for _, p in got if p["checked_step"] != made and p["checked_step"] not in seen_by]
    later = [p for _, p in got if p["checked_step"] in seen_by]
    later_caught = sum(1 for p in later if p["verdict"] == "fail")
    caught = [p for _, p in got if p["verdict"] == "fail"]
    check(at_made and all(p["verdict"] == "fail" for p in at_made),
          "liar: every check of the step that made the corrupted latent fails (%d)" % len(at_made))
    check(clean and all(p["verdict"] == "ok" for p in clean), "liar: every check of an untouched step passes (%d)" % len(clean))
    check(later and later_caught >= 0.75 * len(later),
          "liar: checks of the steps that use the corrupted latent fail (%d of %d)" % (later_caught, len(later)))
    check(all("recomputes to another hash" in p["reason"] for p in caught),
          "liar: %d of %d challenges caught, all by recomputation" % (len(caught), len(got)))
    decode = sum(1 for e in entries for p in e["provers"] if p["decode_checked"])
    check(decode > 0, "some spot checks also recomputed the decode (%d)" % decode)
    groups = [e for e in entries if sum(1 for p in e["provers"] if names.get(p["hotkey"]) in ("honest", "slow")) == 2]
    shared = [e for e in groups if len({p["checked_step"] for p in e["provers"] if names.get(p["hotkey"]) in ("honest", "slow")}) == 1]
    check(groups and len(shared) == len(groups), "identical chains share one spot check (%d challenges)" % len(groups))
    prompts = [e["job"]["prompt"] for e in entries]
    seeds = [e["job"]["seed"] for e in entries]
    check(len(set(prompts)) == len(prompts) and len(set(seeds)) == len(seeds), "every challenge has its own prompt and seed")
    for name, count in params.get("prover_counts", {}).items():
        check(len(by.get(name, [])) == count, "%s: %d challenges logged, %d received" % (name, len(by.get(name, [])), count))


def log_continuity(r, prefix, params):
    entries = [e for _, e in log_entries(r, prefix) if e["kind"] == "challenge"]
    steps = [e["step"] for e in entries]
    state = r.hash(prefix + "state")
    last = int(state.get("step", 0))
    check(steps == list(range(1, last + 1)), "the log holds steps 1..%d once each (%d entries)" % (last, len(steps)))
    if "min_steps" in params:
        check(last >= params["min_steps"], "at least %d steps ran (%d)" % (params["min_steps"], last))
    attempts = {}
    for e in entries:
        for p in e["provers"]:
            attempts[p["hotkey"]] = attempts.get(p["hotkey"], 0) + 1
    for hk, n in attempts.items():
        st = r.hash(prefix + "stats:" + hk)
        name = params["names"].get(hk, hk[:8])
        check(int(st.get("challenge_attempts", -1)) == n, "%s: %s challenge attempts counted, %d logged" % (name, st.get("challenge_attempts"), n))
    for name, count in params.get("prover_counts", {}).items():
        hk = next(h for h, nm in params["names"].items() if nm == name)
        logged = attempts.get(hk, 0)
        slack = params.get("count_slack", 0)
        if "count_extra" in params:
            extra = params["count_extra"]
            check(count == logged + extra, "%s: %d challenges received, %d counted%s" % (name, count, logged,
                  "" if not extra else " (exactly %d more: the steps cut off by SIGKILL)" % extra))
            continue
        check(logged <= count <= logged + slack, "%s: %d challenges received, %d counted%s" % (name, count, logged,
              "" if not slack else " (at most %d more: steps cut off by SIGKILL)" % slack))


if __name__ == "__main__":
    cmd, port, password, prefix, params_path = sys.argv[1:6]
    params = json.load(open(params_path))
    r = Redis(port, password)
    if cmd == "scoring":
        scoring(r, prefix, params)
        verdicts(r, prefix, params)
    elif cmd == "log":
        log_continuity(r, prefix, params)
    elif cmd == "exact":
        scoring(r, prefix, params)
        log_continuity(r, prefix, params)
    sys.exit(min(fails, 100))
