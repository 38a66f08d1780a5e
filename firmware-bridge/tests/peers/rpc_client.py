#!/usr/bin/env python3
"""Call the G1 locomotion service with Unitree's own Python client.

Uses unitree_sdk2py.g1.loco.g1_loco_client.LocoClient (the SDK's G1 loco
client; it hard-codes service "sport", so a subclass passes --service to the
SDK's rpc Client instead). Sequence: SetFsmId(--fsm-id) via
LocoClient.SetFsmId, then GetFsmId via LocoClient._Call(7001, "{}") (the SDK
registers 7001 but has no GetFsmId method), optionally SetVelocity, the api
version (api id 1) and arbitrary --call API_ID JSON calls.

Request ids are the SDK's: time.monotonic_ns() of the caller. Codes: 0 ok,
3104 timeout (no reply within --timeout-s), 3105 api id mismatch, 3102 send
failed (the writer had no matched reader within --timeout-s).

Prints one JSON summary line on stdout at the end; logs go to stderr.
"""

import argparse
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _peers_common as pc  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    pc.add_dds_args(p)
    p.add_argument("--service", default="sport", help="service name: 'sport' (ai_sport >= 8.2) or 'loco' (older)")
    p.add_argument("--fsm-id", type=int, default=500)
    p.add_argument("--timeout-s", type=float, default=2.0, help="per-call timeout (SDK Client.SetTimeout)")
    p.add_argument("--retries", type=int, default=1,
                   help="extra tries of a call that ended in 3104/3102 (discovery races); default 1")
    p.add_argument("--velocity", type=float, nargs=3, metavar=("VX", "VY", "WZ"),
                   help="also call SetVelocity(vx, vy, wz, 1.0) after SetFsmId")
    p.add_argument("--api-version", action="store_true", help="also call api id 1 (server api version)")
    p.add_argument("--call", nargs=2, action="append", default=[], metavar=("API_ID", "JSON"),
                   help="also call any api id with this parameter (SDK ClientBase._CallBase, no registration "
                        "check); repeatable")
    a = p.parse_args()
    if not 0 < a.timeout_s <= 60:
        p.error("--timeout-s must be in (0, 60]")
    if not 0 <= a.retries <= 5:
        p.error("--retries must be 0..5")
    return a


RETRY_CODES = (3102, 3104)


def main():
    a = parse_args()
    pc.capture_stdout()
    pc.check_iface(a.iface)
    pc.check_domain(a.domain)
    calls = []

    def summary():
        by = {c["name"]: c for c in calls}
        get = by.get("GetFsmId")
        fsm = None
        if get and get["code"] == 0 and get["data"]:
            try:
                fsm = json.loads(get["data"]).get("data")
            except (ValueError, AttributeError):
                fsm = None
        return {
            "ok": bool(calls) and all(c["code"] == 0 for c in calls),
            "domain": a.domain, "iface": a.iface, "service": a.service, "fsm_id_requested": a.fsm_id,
            "set_fsm_id_code": by["SetFsmId"]["code"] if "SetFsmId" in by else None,
            "get_fsm_id_code": get["code"] if get else None,
            "get_fsm_id_data": get["data"] if get else None,
            "fsm_id_read_back": fsm,
            "calls": list(calls),
        }

    # worst case: init ~1.5 s + per call (retries+1) * timeout * 2 (send wait + reply wait)
    n_calls = 2 + (a.velocity is not None) + a.api_version + len(a.call)
    pc.start_watchdog(10.0 + n_calls * (a.retries + 1) * 2 * a.timeout_s, summary)
    pc.require_sdk("cyclonedds", "unitree_sdk2py")
    from unitree_sdk2py.g1.loco.g1_loco_client import LocoClient
    from unitree_sdk2py.rpc.client import Client

    class ServiceLocoClient(LocoClient):
        """LocoClient whose service name is configurable (the SDK's is fixed to 'sport')."""

        def __init__(self, service):
            Client.__init__(self, service, False)
            self.first_shake_hand_stage_ = -1

    pc.init_sdk_channels(a.domain, a.iface)
    t = pc.now()
    client = ServiceLocoClient(a.service)  # creates request writer + response reader, sleeps 0.5 s
    client.SetTimeout(a.timeout_s)
    client.Init()
    pc.log(f"LocoClient({a.service!r}) ready in {1e3 * (pc.now() - t):.0f} ms")

    def call(name, fn):
        for attempt in range(a.retries + 1):
            t0 = pc.now()
            res = fn()
            code, data = res if isinstance(res, tuple) else (res, None)
            ms = round(1e3 * (pc.now() - t0), 2)
            pc.log(f"{name}: code={code} data={data!r} ({ms} ms, attempt {attempt + 1})")
            if code not in RETRY_CODES:
                break
        calls.append({"name": name, "code": code, "data": data, "ms": ms, "attempts": attempt + 1})
        return code

    call("SetFsmId", lambda: client.SetFsmId(a.fsm_id))
    call("GetFsmId", lambda: client._Call(7001, "{}"))
    if a.velocity is not None:
        vx, vy, wz = a.velocity
        call("SetVelocity", lambda: client.SetVelocity(vx, vy, wz, 1.0))
    if a.api_version:
        call("GetServerApiVersion", client.GetServerApiVersion)
    for api_id, param in a.call:
        call(f"call:{int(api_id)}", lambda: client._CallBase(int(api_id), param, 0, 0))
    pc.finish(summary())


if __name__ == "__main__":
    main()
