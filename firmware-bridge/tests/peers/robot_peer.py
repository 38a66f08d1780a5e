#!/usr/bin/env python3
"""Act as the G1 robot with Unitree's Python SDK (unitree_sdk2py on CycloneDDS 0.10.2).

Publishes hg LowState_ on rt/lowstate at --rate-hz (monotonic-deadline loop):
valid Unitree CRC, tick = 1 + ms since the loop started (never 0), the given
mode_machine, motor_state[i].q = 0.01*i (rounded to f32) for all 35 slots,
mode 1, temperature [30, 40], vol 48.0, imu quaternion [1, 0, 0, 0],
accelerometer [0, 0, 9.81], version [1, 0], and motor_state[0].tau_est =
f32((tick % 10000) * 0.001) so that peers which cannot see tick (the C++
binding) still see each state change.

Subscribes rt/lowcmd (hg LowCmd_) and counts: received, CRC valid (recomputed
with unitree_sdk2py.utils.crc.CRC), mode_machine echoed, first/last receipt
times (seconds since the publish loop started).

Prints one JSON summary line on stdout at the end; logs go to stderr.
"""

import argparse
import multiprocessing
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _peers_common as pc  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    pc.add_dds_args(p, duration=5.0)
    p.add_argument("--mode-machine", type=int, default=5, help="mode_machine to report (5 = g1 29dof)")
    p.add_argument("--rate-hz", type=float, default=500.0, help="LowState publish rate (1..2000)")
    p.add_argument("--mode-pr", type=int, default=0)
    p.add_argument("--lowcmd-history", type=int, default=8192,
                   help="KeepLast depth of the rt/lowcmd reader (the SDK default is 1)")
    p.add_argument("--corrupt-crc-every", type=int, default=0, metavar="N",
                   help="send every Nth LowState with a wrong CRC (crc ^ 1), to test CRC checks; 0 = never")
    a = p.parse_args()
    if not 0 <= a.mode_machine <= 255:
        p.error("--mode-machine must be 0..255")
    if not 1 <= a.rate_hz <= 2000:
        p.error("--rate-hz must be 1..2000")
    if not 0 < a.duration <= 3600:
        p.error("--duration must be in (0, 3600]")
    return a


class Stats:
    def __init__(self, mode_machine):
        self.lock = threading.Lock()
        self.mode_machine = mode_machine
        self.t0 = None
        self.received = 0
        self.crc_valid = 0
        self.mm_ok = 0
        self.first_at = None
        self.last_at = None
        self.max_gap_s = 0.0
        self.last = None

    def on_lowcmd(self, msg):
        t = pc.now()
        try:
            ok = pc.crc_of(msg) == msg.crc
        except Exception as e:  # keep counting even if one sample is odd
            pc.log("crc error:", e)
            ok = False
        with self.lock:
            self.received += 1
            self.crc_valid += ok
            self.mm_ok += msg.mode_machine == self.mode_machine
            rel = t - (self.t0 if self.t0 is not None else t)
            if self.first_at is None:
                self.first_at = rel
                pc.log(f"first LowCmd at {rel:.3f}s (crc {'ok' if ok else 'BAD'}, mode_machine {msg.mode_machine})")
            elif rel - self.last_at > self.max_gap_s:
                self.max_gap_s = rel - self.last_at
            self.last_at = rel
            self.last = msg


def lowcmd_receiver(domain, iface, mode_machine, history, t_ref, stop_at, conn):
    """Child process: count rt/lowcmd samples until stop_at (monotonic)."""
    pc.capture_stdout()
    from cyclonedds.core import Policy, Qos
    from unitree_sdk2py.core.channel import ChannelFactory
    from unitree_sdk2py.idl.unitree_hg.msg.dds_ import LowCmd_

    pc.init_sdk_channels(domain, iface)
    channel = ChannelFactory().CreateChannel("rt/lowcmd", LowCmd_)
    channel.SetReader(Qos(Policy.Reliability.BestEffort, Policy.History.KeepLast(history)), None, 0)
    st = Stats(mode_machine)
    st.t0 = t_ref  # times are relative to the parent's process start
    while pc.now() < stop_at:
        # The SDK prints a line on every empty Read, so wait long-ish.
        m = channel.Read(0.5)
        if m is not None:
            st.on_lowcmd(m)
    conn.send({"received": st.received, "crc_valid": st.crc_valid, "mm_ok": st.mm_ok,
               "max_gap_s": st.max_gap_s, "last": last_cmd_summary(st.last),
               "first_rel": st.first_at, "last_rel": st.last_at})


def last_cmd_summary(m):
    if m is None or isinstance(m, dict):
        return m
    mc = m.motor_cmd[:29]
    return {
        "mode_pr": m.mode_pr, "mode_machine": m.mode_machine, "reserve": list(m.reserve), "crc": m.crc,
        "mode": [x.mode for x in mc], "q": [x.q for x in mc], "dq": [x.dq for x in mc],
        "tau": [x.tau for x in mc], "kp": [x.kp for x in mc], "kd": [x.kd for x in mc],
    }


def main():
    a = parse_args()
    pc.capture_stdout()
    pc.check_iface(a.iface)
    pc.check_domain(a.domain)
    st = Stats(a.mode_machine)
    counters = {"sent": 0, "corrupted": 0, "overruns": 0, "write_failures": 0, "loop_s": 0.0}

    def summary():
        with st.lock:
            return {
                "ok": True, "domain": a.domain, "iface": a.iface, "duration_s": a.duration,
                "rate_hz": a.rate_hz, "mode_machine": a.mode_machine,
                "lowstate_sent": counters["sent"],
                "lowstate_crc_corrupted": counters["corrupted"],
                "lowstate_rate_achieved_hz": round(counters["sent"] / counters["loop_s"], 1)
                if counters["loop_s"] > 0 else 0.0,
                "lowstate_overruns": counters["overruns"],
                "lowstate_write_failures": counters["write_failures"],
                "lowcmd_received": st.received, "lowcmd_crc_valid": st.crc_valid,
                "lowcmd_mode_machine_ok": st.mm_ok,
                "first_lowcmd_at_s": None if st.first_at is None else round(st.first_at, 4),
                "last_lowcmd_at_s": None if st.last_at is None else round(st.last_at, 4),
                "lowcmd_max_gap_ms": round(st.max_gap_s * 1e3, 2),
                "last_lowcmd": last_cmd_summary(st.last),
                "lowstate_q_pattern": "q[i] = f32(0.01*i), i in 0..35",
            }

    # backstop only: the loop below ends at T_PROCESS + duration
    pc.start_watchdog(a.duration + 5.0, summary)
    pc.require_sdk("cyclonedds", "unitree_sdk2py")
    from unitree_sdk2py.core.channel import ChannelPublisher
    from unitree_sdk2py.idl.unitree_hg.msg.dds_ import LowCmd_, LowState_

    t_start = pc.T_PROCESS
    pc.init_sdk_channels(a.domain, a.iface)
    pub = ChannelPublisher("rt/lowstate", LowState_)
    pub.Init()
    # The rt/lowcmd side runs in a second process (like the robot's own
    # services, which are separate processes): in one Python process the 500 Hz
    # publisher and the receiver share one GIL, and the receiver then misses
    # samples, which would measure this peer's CPU instead of the sender.
    ctx = multiprocessing.get_context("spawn")
    parent_end, child_end = ctx.Pipe()
    receiver = ctx.Process(
        target=lowcmd_receiver,
        args=(a.domain, a.iface, a.mode_machine, a.lowcmd_history, t_start, t_start + a.duration, child_end),
        name="lowcmd_receiver", daemon=True)
    receiver.start()

    msg = pc.new_lowstate()
    msg.version = [1, 0]
    msg.mode_pr = a.mode_pr
    msg.mode_machine = a.mode_machine
    msg.imu_state.quaternion = [1.0, 0.0, 0.0, 0.0]
    msg.imu_state.accelerometer = [0.0, 0.0, pc.f32(9.81)]
    msg.imu_state.temperature = 35
    for i, m in enumerate(msg.motor_state):
        m.mode = 1
        m.q = pc.f32(0.01 * i)
        m.temperature = [30, 40]
        m.vol = 48.0

    period = 1.0 / a.rate_hz
    # the publish loop owns whatever is left of --duration after DDS init
    end = t_start + a.duration
    t0 = pc.now()
    with st.lock:
        st.t0 = t0
    pc.log(f"publishing rt/lowstate at {a.rate_hz} Hz until t+{end - t0:.2f}s, domain {a.domain}")
    nxt = t0
    while True:
        t = pc.now()
        if t >= end:
            break
        msg.tick = (1 + int((t - t0) * 1000.0)) & 0xFFFFFFFF
        msg.motor_state[0].tau_est = pc.f32((msg.tick % 10000) * 0.001)
        msg.crc = pc.crc_of(msg)
        if a.corrupt_crc_every and (counters["sent"] + 1) % a.corrupt_crc_every == 0:
            msg.crc ^= 1
            counters["corrupted"] += 1
        if not pub.Write(msg):
            counters["write_failures"] += 1
        counters["sent"] += 1
        nxt += period
        t = pc.now()
        if t > nxt + period:  # more than a whole period late: resync, do not burst
            counters["overruns"] += 1
            nxt = t
        pc.sleep_until(min(nxt, end))
    counters["loop_s"] = pc.now() - t0
    if parent_end.poll(5.0):
        child = parent_end.recv()
        with st.lock:
            st.received = child["received"]
            st.crc_valid = child["crc_valid"]
            st.mm_ok = child["mm_ok"]
            st.max_gap_s = child["max_gap_s"]
            st.last = child["last"]
            # the receiver reports times relative to t_start; the summary's are relative to t0
            st.first_at = None if child["first_rel"] is None else child["first_rel"] + t_start - t0
            st.last_at = None if child["last_rel"] is None else child["last_rel"] + t_start - t0
    else:
        pc.log("lowcmd receiver process did not report; counting nothing")
    receiver.join(2.0)
    s = summary()
    pc.log(f"sent {s['lowstate_sent']} LowState ({s['lowstate_rate_achieved_hz']} Hz), "
           f"got {s['lowcmd_received']} LowCmd, crc ok {s['lowcmd_crc_valid']}, mm ok {s['lowcmd_mode_machine_ok']}")
    pc.finish(s)


if __name__ == "__main__":
    main()
