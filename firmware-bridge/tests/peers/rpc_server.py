#!/usr/bin/env python3
"""A G1 locomotion RPC server built on Unitree's Python SDK RPC server.

Uses unitree_sdk2py.rpc.server.Server (the SDK's own generic RPC server: it
reads rt/api/<service>/request, writes rt/api/<service>/response, echoes
header.identity {id, api_id}, answers api id 1 with the api version, and
answers unregistered api ids with 3203 RPC_ERR_SERVER_API_NOT_IMPL) with
loco handlers registered like the robot's:

  7001 GetFsmId        -> 0, {"data": <current fsm id>}
  7002 GetFsmMode      -> 0, {"data": <fsm mode>}  (0 idle; 1 while a velocity is set)
  7003 GetBalanceMode  -> 0, {"data": <balance mode>}
  7004 GetSwingHeight  -> 0, {"data": <float>}
  7005 GetStandHeight  -> 0, {"data": <float>}
  7101 SetFsmId {"data": id}  -> 0 and stores it; ids not in the FSM list
                                 of g1-protocol.md section 6 -> 7302
  7102 SetBalanceMode, 7103 SetSwingHeight, 7104 SetStandHeight {"data": x} -> 0
  7105 SetVelocity {"velocity": [vx, vy, wz], "duration": s} -> 0
  7106 SetArmTask {"data": task} -> 0; task not in 0..3 -> 7303;
       fsm not in (500, 501, 801) -> 7301
  7107 SetSpeedMode, 7110 SwitchToUserCtrl, 7111 SwitchToInternalCtrl -> 0
  malformed JSON / missing keys -> 3204; any other api id -> 3203.
  (The SDK server clears "data" whenever code != 0.)

Prints one JSON summary line on stdout at the end; logs go to stderr.
"""

import argparse
import json
import os
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _peers_common as pc  # noqa: E402

# g1-protocol.md section 6 (200 = "start" on older firmware, as LocoClient.Start() still sends)
VALID_FSM_IDS = (0, 1, 2, 3, 4, 200, 500, 501, 702, 706, 801)
ARM_FSM_IDS = (500, 501, 801)
LOCO_API_VERSION = "1.0.0.0"
ERR_STATE, ERR_FSM, ERR_TASK, ERR_PARAM = 7301, 7302, 7303, 3204


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    pc.add_dds_args(p, duration=10.0)
    p.add_argument("--service", default="sport", help="service name: 'sport' (ai_sport >= 8.2) or 'loco' (older)")
    p.add_argument("--initial-fsm-id", type=int, default=0)
    p.add_argument("--max-requests", type=int, default=10000, help="stop recording after this many requests")
    a = p.parse_args()
    if not 0 < a.duration <= 3600:
        p.error("--duration must be in (0, 3600]")
    if not a.service or "/" in a.service:
        p.error("--service must be a plain name")
    return a


class LocoState:
    def __init__(self, fsm_id):
        self.lock = threading.Lock()
        self.fsm_id = fsm_id
        self.fsm_mode = 0
        self.balance_mode = 0
        self.swing_height = 0.0
        self.stand_height = 0.0
        self.velocity = None
        self.arm_task = None


def _data(parameter):
    p = json.loads(parameter)
    if not isinstance(p, dict) or "data" not in p:
        raise ValueError("missing 'data'")
    return p["data"]


def make_handlers(s):
    def getter(attr):
        def h(parameter):
            with s.lock:
                return 0, json.dumps({"data": getattr(s, attr)})
        return h

    def set_fsm(parameter):
        try:
            fsm = _data(parameter)
        except (ValueError, TypeError):
            return ERR_PARAM, ""
        if not isinstance(fsm, int) or isinstance(fsm, bool) or fsm not in VALID_FSM_IDS:
            return ERR_FSM, ""
        with s.lock:
            s.fsm_id = fsm
        return 0, ""

    def setter(attr, kind):
        def h(parameter):
            try:
                v = _data(parameter)
            except (ValueError, TypeError):
                return ERR_PARAM, ""
            if kind is float and isinstance(v, (int, float)) and not isinstance(v, bool):
                v = float(v)
            elif kind is int and isinstance(v, int) and not isinstance(v, bool):
                pass
            else:
                return ERR_PARAM, ""
            with s.lock:
                setattr(s, attr, v)
            return 0, ""
        return h

    def set_velocity(parameter):
        try:
            p = json.loads(parameter)
            v = p["velocity"]
            if not (isinstance(v, list) and len(v) == 3 and all(isinstance(x, (int, float)) for x in v)):
                raise ValueError("velocity must be [vx, vy, wz]")
            d = float(p.get("duration", 1.0))
        except (ValueError, TypeError, KeyError):
            return ERR_PARAM, ""
        with s.lock:
            s.velocity = {"velocity": [float(x) for x in v], "duration": d}
            s.fsm_mode = 0 if all(x == 0 for x in v) else 1
        return 0, ""

    def set_arm_task(parameter):
        try:
            t = _data(parameter)
        except (ValueError, TypeError):
            return ERR_PARAM, ""
        if not isinstance(t, int) or t not in (0, 1, 2, 3):
            return ERR_TASK, ""
        with s.lock:
            if s.fsm_id not in ARM_FSM_IDS:
                return ERR_STATE, ""
            s.arm_task = t
        return 0, ""

    def ok(parameter):
        return 0, ""

    return {
        7001: getter("fsm_id"), 7002: getter("fsm_mode"), 7003: getter("balance_mode"),
        7004: getter("swing_height"), 7005: getter("stand_height"),
        7101: set_fsm, 7102: setter("balance_mode", int), 7103: setter("swing_height", float),
        7104: setter("stand_height", float), 7105: set_velocity, 7106: set_arm_task,
        7107: ok, 7110: ok, 7111: ok,
    }


def main():
    a = parse_args()
    pc.capture_stdout()
    pc.check_iface(a.iface)
    pc.check_domain(a.domain)
    state = LocoState(a.initial_fsm_id)
    rec_lock = threading.Lock()
    requests, responses = [], []
    dropped = [0]

    def summary():
        with rec_lock, state.lock:
            return {
                "ok": True, "domain": a.domain, "iface": a.iface, "service": a.service,
                "request_topic": f"rt/api/{a.service}/request", "response_topic": f"rt/api/{a.service}/response",
                "requests_received": len(requests) + dropped[0],
                "requests": list(requests),
                "responses": list(responses),
                "final_fsm_id": state.fsm_id, "last_velocity": state.velocity, "arm_task": state.arm_task,
                "valid_fsm_ids": list(VALID_FSM_IDS),
            }

    pc.start_watchdog(a.duration + 5.0, summary)
    pc.require_sdk("cyclonedds", "unitree_sdk2py")
    from unitree_sdk2py.rpc.server import Server

    class LocoServer(Server):
        """The SDK Server, plus recording of every request and response."""

        def Init(self):
            self._SetApiVersion(LOCO_API_VERSION)
            for api_id, h in make_handlers(state).items():
                self._RegistHandler(api_id, h, False)

        def Start(self, enablePrioQueue=False):
            # Server.Start() installs its private dispatcher; wrap it to record requests.
            dispatch = self._Server__ServerRequestHandler

            def recording_dispatch(req):
                ident = req.header.identity
                with rec_lock:
                    if len(requests) < a.max_requests:
                        requests.append({"id": ident.id, "api_id": ident.api_id, "parameter": req.parameter,
                                         "lease_id": req.header.lease.id,
                                         "noreply": bool(req.header.policy.noreply),
                                         "at_s": round(pc.now() - pc.T_PROCESS, 4)})
                    else:
                        dropped[0] += 1
                pc.log(f"request id={ident.id} api_id={ident.api_id} parameter={req.parameter!r}")
                dispatch(req)

            self._SetServerRequestHandler(recording_dispatch)
            self._Start(enablePrioQueue)

        def _SendResponse(self, response):
            h = response.header
            with rec_lock:
                if len(responses) < a.max_requests:
                    responses.append({"id": h.identity.id, "api_id": h.identity.api_id, "code": h.status.code,
                                      "data": response.data})
            pc.log(f"response id={h.identity.id} api_id={h.identity.api_id} code={h.status.code} data={response.data!r}")
            super()._SendResponse(response)

    pc.init_sdk_channels(a.domain, a.iface)
    srv = LocoServer(a.service)
    srv.Init()
    srv.Start()
    end = pc.T_PROCESS + a.duration
    pc.log(f"serving rt/api/{a.service}/request until t+{end - pc.now():.2f}s")
    while pc.now() < end:
        pc.sleep_until(min(end, pc.now() + 0.1))
    s = summary()
    pc.log(f"{s['requests_received']} requests, final fsm id {s['final_fsm_id']}")
    pc.finish(s)


if __name__ == "__main__":
    main()
