#!/usr/bin/env python3
"""Round-trip latency between two CycloneDDS 0.10.2 peers (Unitree's Python SDK).

  pong: subscribes rt/lowcmd (hg LowCmd_); for each LowCmd it publishes a
        LowState_ on rt/lowstate with tick = LowCmd.reserve[0] (valid CRC,
        mode_machine 5). Runs until --duration.
  ping: publishes LowCmd_ (valid CRC) with reserve[0] = seq on rt/lowcmd and
        waits for the LowState with tick == seq; sends the next one only after
        the reply or after --timeout-ms (default 100; a timeout counts as lost).
        First it sends probes (not counted, seq >= 0x80000000) every 100 ms
        until one comes back (discovery), up to --discovery-timeout-s.
        Prints p50/p90/p99/max/mean RTT in microseconds and the loss count.

A Rust ping works the same way against this pong: LowCmd with
reserve[0] = seq -> LowState with tick = seq. A Rust pong must echo
reserve[0] into tick. Measured seqs run 1..count.
One JSON summary line on stdout at the end; logs go to stderr.
"""

import argparse
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _peers_common as pc  # noqa: E402

PROBE_BASE = 0x80000000


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("role", choices=("ping", "pong"))
    pc.add_dds_args(p)
    p.add_argument("--count", type=int, default=1000, help="ping: measured round trips (1..1000000)")
    p.add_argument("--timeout-ms", type=float, default=100.0, help="ping: per-message reply timeout")
    p.add_argument("--discovery-timeout-s", type=float, default=5.0, help="ping: give up if no probe returns")
    p.add_argument("--duration", type=float, default=None,
                   help="hard time limit in seconds (pong: run time, default 30; ping: default "
                        "discovery timeout + count * timeout + 5)")
    a = p.parse_args()
    if not 1 <= a.count <= 1000000:
        p.error("--count must be 1..1000000")
    if not 0 < a.timeout_ms <= 10000:
        p.error("--timeout-ms must be in (0, 10000]")
    if a.duration is None:
        a.duration = 30.0 if a.role == "pong" else a.discovery_timeout_s + a.count * a.timeout_ms / 1000.0 + 5.0
    if not 0 < a.duration <= 3600:
        p.error("--duration must be in (0, 3600]")
    return a


def percentile(sorted_vals, q):
    if not sorted_vals:
        return None
    k = min(len(sorted_vals) - 1, max(0, int(round(q / 100.0 * (len(sorted_vals) - 1)))))
    return sorted_vals[k]


def run_pong(a):
    from unitree_sdk2py.core.channel import ChannelPublisher, ChannelSubscriber
    from unitree_sdk2py.idl.unitree_hg.msg.dds_ import LowCmd_, LowState_

    st = {"received": 0, "replied": 0, "crc_bad": 0, "first_at": None, "last_at": None}
    lock = threading.Lock()

    def summary():
        with lock:
            return {"ok": True, "role": "pong", "domain": a.domain, "iface": a.iface, "duration_s": a.duration,
                    "lowcmd_received": st["received"], "lowstate_replied": st["replied"],
                    "lowcmd_crc_invalid": st["crc_bad"], "first_lowcmd_at_s": st["first_at"],
                    "last_lowcmd_at_s": st["last_at"]}

    pc.start_watchdog(a.duration + 5.0, summary)
    pc.init_sdk_channels(a.domain, a.iface)
    pub = ChannelPublisher("rt/lowstate", LowState_)
    pub.Init()
    reply = pc.new_lowstate()
    reply.mode_machine = 5
    reply.imu_state.quaternion = [1.0, 0.0, 0.0, 0.0]

    def on_lowcmd(cmd):
        t = round(pc.now() - pc.T_PROCESS, 4)
        # reply first (latency), account afterwards
        with lock:
            reply.tick = cmd.reserve[0]
            reply.crc = pc.crc_of(reply)
            pub.Write(reply)
            st["replied"] += 1
            st["received"] += 1
            if pc.crc_of(cmd) != cmd.crc:
                st["crc_bad"] += 1
            if st["first_at"] is None:
                st["first_at"] = t
                pc.log(f"first LowCmd at {t}s, reserve[0]={cmd.reserve[0]}")
            st["last_at"] = t

    sub = ChannelSubscriber("rt/lowcmd", LowCmd_)
    sub.Init(on_lowcmd, 0)  # reply from the DDS listener thread
    end = pc.T_PROCESS + a.duration
    pc.log(f"pong ready on domain {a.domain} until t+{end - pc.now():.2f}s")
    while pc.now() < end:
        pc.sleep_until(min(end, pc.now() + 0.1))
    s = summary()
    pc.log(f"received {s['lowcmd_received']}, replied {s['lowstate_replied']}")
    pc.finish(s)


def run_ping(a):
    from unitree_sdk2py.core.channel import ChannelPublisher, ChannelSubscriber
    from unitree_sdk2py.idl.unitree_hg.msg.dds_ import LowCmd_, LowState_

    cond = threading.Condition()
    box = {"tick": None, "t": 0.0, "replies": 0, "stale": 0}
    rtts = []
    st = {"sent": 0, "lost": 0, "probes": 0, "discovery_s": None, "phase": "discovery"}

    def summary():
        r = sorted(rtts)
        us = lambda v: None if v is None else round(v * 1e6, 1)  # noqa: E731
        return {
            "ok": st["phase"] == "done" and len(r) > 0, "role": "ping", "domain": a.domain, "iface": a.iface,
            "count": a.count, "sent": st["sent"], "received": len(r), "lost": st["lost"],
            "stale_replies": box["stale"], "timeout_ms": a.timeout_ms, "probes_sent": st["probes"],
            "discovery_s": st["discovery_s"],
            "rtt_us": {"p50": us(percentile(r, 50)), "p90": us(percentile(r, 90)), "p99": us(percentile(r, 99)),
                       "max": us(r[-1] if r else None), "min": us(r[0] if r else None),
                       "mean": us(sum(r) / len(r) if r else None)},
        }

    pc.start_watchdog(a.duration + 5.0, summary)
    end = pc.T_PROCESS + a.duration

    def on_lowstate(msg):
        t = pc.now()
        with cond:
            box["tick"] = msg.tick
            box["t"] = t
            box["replies"] += 1
            cond.notify_all()

    pc.init_sdk_channels(a.domain, a.iface)
    pub = ChannelPublisher("rt/lowcmd", LowCmd_)
    pub.Init()
    sub = ChannelSubscriber("rt/lowstate", LowState_)
    sub.Init(on_lowstate, 0)

    cmd = pc.new_lowcmd()
    cmd.mode_machine = 5

    def send(seq):
        cmd.reserve[0] = seq
        cmd.crc = pc.crc_of(cmd)
        with cond:
            box["tick"] = None
        t = pc.now()
        pub.Write(cmd)
        return t

    def wait_reply(seq, t_send, timeout_s):
        deadline = min(t_send + timeout_s, end)
        with cond:
            while True:
                if box["tick"] == seq:
                    return box["t"] - t_send
                if box["tick"] is not None:  # a late reply to an earlier seq
                    box["stale"] += 1
                    box["tick"] = None
                left = deadline - pc.now()
                if left <= 0:
                    return None
                cond.wait(left)

    # discovery: probes until one returns
    t_disc = pc.now()
    disc_end = min(end, t_disc + a.discovery_timeout_s)
    found = False
    while pc.now() < disc_end:
        seq = PROBE_BASE + st["probes"]
        st["probes"] += 1
        if wait_reply(seq, send(seq), 0.1) is not None:
            found = True
            break
    if not found:
        st["phase"] = "no-pong"
        s = summary()
        s["error"] = f"no reply within --discovery-timeout-s {a.discovery_timeout_s}"
        pc.log(s["error"])
        pc.finish(s)
    st["discovery_s"] = round(pc.now() - t_disc, 3)
    pc.log(f"pong found after {st['discovery_s']}s ({st['probes']} probes); measuring {a.count} round trips")
    box["stale"] = 0
    st["phase"] = "measure"
    timeout_s = a.timeout_ms / 1000.0
    for seq in range(1, a.count + 1):
        if pc.now() >= end:
            break
        st["sent"] += 1
        rtt = wait_reply(seq, send(seq), timeout_s)
        if rtt is None:
            st["lost"] += 1
        else:
            rtts.append(rtt)
    st["phase"] = "done"
    s = summary()
    pc.log(f"sent {s['sent']} lost {s['lost']} rtt_us {s['rtt_us']}")
    pc.finish(s)


def main():
    a = parse_args()
    pc.capture_stdout()
    pc.check_iface(a.iface)
    pc.check_domain(a.domain)
    pc.require_sdk("cyclonedds", "unitree_sdk2py")
    if a.role == "pong":
        run_pong(a)
    else:
        run_ping(a)


if __name__ == "__main__":
    main()
