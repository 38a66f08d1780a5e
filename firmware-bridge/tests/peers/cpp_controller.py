#!/usr/bin/env python3
"""A low-level controller built on Unitree's C++ SDK (far-unitree-sdk's
`unitree_interface` binding, CycloneDDS 0.10.2 bundled).

UnitreeInterface(iface, RobotType.G1, MessageType.HG, dds_config=XML):
  * subscribes rt/lowstate (unitree_hg::msg::dds_::LowState_). Its handler
    CHECKS THE CRC and silently drops (prints "[ERROR] low_state CRC Error (HG)"
    to std::cout) LowStates whose CRC is wrong;
  * write_low_command(MotorCommand) only stores the command; a C++ thread
    ("command_writer", period 2000 us) publishes rt/lowcmd from then on at
    500 Hz, with mode = 1 for slots 0..28, mode_pr from set_control_mode (PR=0),
    mode_machine copied from the latest LowState, and the CRC COMPUTED over the
    C++ struct;
  * read_low_state() returns the latest accepted state (mode_machine, motor
    q/dq/ddq/tau_est/temperature/voltage, imu quat/omega/accel/rpy, and a
    `tick` attribute that 0.1.8 leaves at 0). There is no per-message counter:
    lowstate_changes counts polls (--poll-hz) that saw a different state.
  * It also creates a writer on rt/lowstate, a reader on rt/lowcmd,
    rt/wirelesscontroller (unitree_go WirelessController_) reader+writer and
    rt/odommodestate (unitree_go SportModeState_) reader+writer.

The binding always uses DDS domain 0 (ChannelFactory::Init(0, nic)). To join
--domain D we pass an explicit CycloneDDS XML (Domain Id="any", interface
--iface, no multicast, peer 127.0.0.1) with Discovery/ExternalDomainId = D, so
on the wire it uses domain D's ports and domain id.

Commanded targets (after the first LowState): q[i] = 0.02*i, dq 0, tau 0,
kp 40, kd 1 for i in 0..29. The C++ SDK's std::cout is routed to stderr;
"CRC Error" lines are counted into lowstate_crc_errors_reported.
Prints one JSON summary line on stdout at the end; logs go to stderr.
"""

import argparse
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _peers_common as pc  # noqa: E402

N_BODY = 29
Q_TARGET = [pc.f32(0.02 * i) for i in range(N_BODY)]
KP, KD = 40.0, 1.0
WRITER_PERIOD_US = 2000


def crouch_targets():
    """A crouched stand for the 29-DoF G1 in hg slot order, with the gains
    that hold it in MuJoCo (g1-protocol.md section 5)."""
    leg_q = [-0.3, 0.0, 0.0, 0.6, -0.3, 0.0]
    leg_kp, leg_kd = [300, 300, 300, 300, 200, 200], [8, 8, 8, 8, 5, 5]
    arm_l = [0.2, 0.2, 0.0, 1.28, 0.0, 0.0, 0.0]
    arm_r = [0.2, -0.2, 0.0, 1.28, 0.0, 0.0, 0.0]
    q = leg_q + leg_q + [0.0, 0.0, 0.0] + arm_l + arm_r
    kp = leg_kp + leg_kp + [300] * 3 + [40] * 14
    kd = leg_kd + leg_kd + [8] * 3 + [1] * 14
    return [float(x) for x in q], [float(x) for x in kp], [float(x) for x in kd]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    pc.add_dds_args(p, duration=5.0)
    p.add_argument("--poll-hz", type=float, default=500.0, help="read_low_state() polling rate (1..2000)")
    p.add_argument("--pose", choices=("pattern", "crouch"), default="pattern",
                   help="pattern: q = 0.02*i, kp 40, kd 1 (wire checks); crouch: a crouched stand "
                        "(legs hip -0.3, knee 0.6, ankle -0.3; arms at rest) with standing gains, "
                        "to drive a simulated G1")
    a = p.parse_args()
    if not 1 <= a.poll_hz <= 2000:
        p.error("--poll-hz must be 1..2000")
    if not 0 < a.duration <= 3600:
        p.error("--duration must be in (0, 3600]")
    return a


def dds_xml(iface, domain):
    return (
        '<?xml version="1.0" encoding="UTF-8" ?>'
        '<CycloneDDS><Domain Id="any">'
        f'<General><Interfaces><NetworkInterface name="{iface}" priority="default" multicast="false"/>'
        '</Interfaces><AllowMulticast>false</AllowMulticast></General>'
        f'<Discovery><ExternalDomainId>{domain}</ExternalDomainId><ParticipantIndex>auto</ParticipantIndex>'
        '<MaxAutoParticipantIndex>30</MaxAutoParticipantIndex>'
        '<Peers><Peer Address="127.0.0.1"/></Peers></Discovery>'
        '</Domain></CycloneDDS>'
    )


def main():
    a = parse_args()
    commanded = {"q": Q_TARGET, "kp": KP, "kd": KD}
    pc.capture_stdout()
    pc.check_iface(a.iface)
    pc.check_domain(a.domain)

    # Route fd 1 (C++ std::cout) through a pipe so we can count CRC errors.
    r_fd, w_fd = os.pipe()
    os.dup2(w_fd, 1)
    os.close(w_fd)
    cout = {"crc_errors": 0, "lines": 0}

    def pump():
        with os.fdopen(r_fd, "rb", buffering=0) as f:
            buf = b""
            while True:
                chunk = f.read(4096)
                if not chunk:
                    return
                buf += chunk
                *lines, buf = buf.split(b"\n")
                for ln in lines:
                    cout["lines"] += 1
                    if b"CRC Error" in ln:
                        cout["crc_errors"] += 1
                        if cout["crc_errors"] > 5:
                            continue
                    if b"No motor command available" in ln:
                        continue
                    sys.stderr.write("[unitree_interface] " + ln.decode(errors="replace") + "\n")

    threading.Thread(target=pump, name="cout-pump", daemon=True).start()

    st = {"reads": 0, "states": 0, "changes": 0, "last": None, "ticks": set(), "first_at": None, "write_calls": 0,
          "first_write_at": None, "last_write_at": None}

    def summary():
        last = st["last"]
        fw, lw = st["first_write_at"], st["last_write_at"]
        est = 0 if fw is None else int((min(pc.now(), lw + WRITER_PERIOD_US * 1e-6) - fw) / (WRITER_PERIOD_US * 1e-6))
        return {
            "ok": st["states"] > 0, "domain": a.domain, "iface": a.iface, "duration_s": a.duration,
            "binding": "far-unitree-sdk 0.1.8 unitree_interface (Unitree C++ SDK, CycloneDDS 0.10.2)",
            "lowstate_reads": st["reads"],
            "lowstate_reads_with_data": st["states"],
            "lowstate_changes": st["changes"],
            "lowstate_distinct_ticks": len(st["ticks"]),
            "first_lowstate_at_s": st["first_at"],
            "last_mode_machine": None if last is None else last["mode_machine"],
            "last_tick": None if last is None else last["tick"],
            "last_q": None if last is None else last["q"],
            "last_imu_quaternion": None if last is None else last["quat"],
            "lowstate_crc_errors_reported": cout["crc_errors"],
            "lowcmd_write_calls": st["write_calls"],
            "lowcmd_writer_period_us": WRITER_PERIOD_US,
            "lowcmd_est_sent": est,
            "first_lowcmd_at_s": fw if fw is None else round(fw - pc.T_PROCESS, 4),
            "commanded": {"mode": 1, "q": commanded["q"], "dq": 0.0, "tau": 0.0, "kp": commanded["kp"],
                          "kd": commanded["kd"], "slots": N_BODY, "pose": a.pose,
                          "mode_pr": 0, "mode_machine": "copied from latest LowState by the C++ SDK"},
            "crc_checked_on_receive": True, "crc_computed_on_send": True,
        }

    pc.start_watchdog(a.duration + 5.0, summary)
    pc.require_sdk("unitree_interface")
    import unitree_interface as ui

    if getattr(ui, "DDS_CONFIG_API_VERSION", None) != 1:
        pc.fail("this unitree_interface has no dds_config API (need far-unitree-sdk 0.1.8)")
    end = pc.T_PROCESS + a.duration
    t = pc.now()
    try:
        robot = ui.UnitreeInterface(a.iface, ui.RobotType.G1, ui.MessageType.HG, dds_config=dds_xml(a.iface, a.domain))
    except Exception as e:
        pc.fail(f"UnitreeInterface init failed: {e.__class__.__name__}: {e}")
    pc.log(f"UnitreeInterface(G1, HG) up in {1e3 * (pc.now() - t):.0f} ms, {robot.get_num_motors()} motors, "
           f"domain {a.domain} via ExternalDomainId")

    cmd = ui.MotorCommand(N_BODY)
    if a.pose == "crouch":
        q_target, kp, kd = crouch_targets()
    else:
        q_target, kp, kd = list(Q_TARGET), [KP] * N_BODY, [KD] * N_BODY
    commanded["q"], commanded["kp"], commanded["kd"] = q_target, kp, kd
    cmd.q_target = q_target
    cmd.dq_target = [0.0] * N_BODY
    cmd.tau_ff = [0.0] * N_BODY
    cmd.kp = kp
    cmd.kd = kd
    robot.set_control_mode(ui.ControlMode.PR)

    period = 1.0 / a.poll_hz
    nxt = pc.now()
    prev_sig = None
    while pc.now() < end:
        s = robot.read_low_state()
        st["reads"] += 1
        q = list(s.motor.q)
        quat = list(s.imu.quat)
        # Before the first accepted LowState the binding returns all zeros. Note:
        # far-unitree-sdk 0.1.8 leaves LowState.tick at 0 even when the robot sends
        # one, so new states are detected by any change of what the binding exposes.
        sig = (s.tick, s.mode_machine, tuple(q), tuple(s.motor.dq), tuple(s.motor.tau_est),
               tuple(s.motor.temperature), tuple(s.motor.voltage), tuple(quat), tuple(s.imu.omega),
               tuple(s.imu.accel), tuple(s.imu.rpy))
        received = s.tick != 0 or s.mode_machine != 0 or any(q) or any(quat)
        if received:
            if sig != prev_sig:
                prev_sig = sig
                st["changes"] += 1
                st["ticks"].add(s.tick)
                st["last"] = {"tick": s.tick, "mode_machine": s.mode_machine, "q": q[:N_BODY], "quat": quat}
            if st["states"] == 0:
                st["first_at"] = round(pc.now() - pc.T_PROCESS, 4)
                pc.log(f"first LowState at {st['first_at']}s: tick {s.tick}, mode_machine {s.mode_machine}")
            st["states"] += 1
            # only command after the first LowState, as Unitree's examples do (the C++ writer
            # copies mode_machine from the latest LowState)
            if st["write_calls"] == 0 or st["reads"] % 10 == 0:
                robot.write_low_command(cmd)
                st["write_calls"] += 1
                st["last_write_at"] = pc.now()
                if st["first_write_at"] is None:
                    st["first_write_at"] = st["last_write_at"]
        nxt += period
        tn = pc.now()
        if tn > nxt + period:
            nxt = tn
        pc.sleep_until(min(nxt, end))
    st["last_write_at"] = pc.now() if st["first_write_at"] is not None else None
    s = summary()
    pc.log(f"{s['lowstate_changes']} LowState changes seen, ~{s['lowcmd_est_sent']} LowCmds written by the SDK")
    pc.finish(s)


if __name__ == "__main__":
    main()
