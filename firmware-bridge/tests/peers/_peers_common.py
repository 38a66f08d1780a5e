"""Shared helpers for the tendon third-party DDS peers.

Contract every peer follows:
  * argparse runs before any SDK import, so `--help` works with any python;
  * exactly one JSON line is written to the *original* stdout, at the end;
    everything else (our logs, the SDK's prints, C++ std::cout) goes to stderr;
  * a watchdog thread hard-exits the process if it overruns its time budget;
  * the process leaves with os._exit() after the summary, so DDS teardown
    can never hang it;
  * SIGTERM / SIGINT end it early, still with the summary (key "interrupted").

Exit codes: 0 ok, 1 error (summary has "error"), 3 venv / SDK missing,
4 watchdog fired, 2 bad arguments (argparse).
"""

import json
import os
import struct
import sys
import threading
import time

T_PROCESS = time.monotonic()  # ~process start; --duration budgets count from here

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_NO_SDK = 3
EXIT_WATCHDOG = 4


def _pin_cyclonedds_home():
    """The cyclonedds Python binding loads $CYCLONEDDS_HOME/lib/libddsc.so first
    (and fails if that is missing), then whatever libddsc the linker finds. Point
    it at the install script's CYCLONEDDS_HOME (links to Debian's 0.10.2), next
    to the venv, so a CYCLONEDDS_HOME from the environment (say a CycloneDDS 11
    build) can never be picked up."""
    home = os.path.join(os.path.dirname(sys.prefix), "cyclonedds-home")
    if sys.prefix != sys.base_prefix and os.path.exists(os.path.join(home, "lib", "libddsc.so")):
        os.environ["CYCLONEDDS_HOME"] = home
    else:
        os.environ.pop("CYCLONEDDS_HOME", None)


_pin_cyclonedds_home()

_SCRIPT = os.path.basename(sys.argv[0]) if sys.argv and sys.argv[0] else "peer"
_emit_lock = threading.Lock()
_emitted = False
_json_fd = None  # duplicate of the original stdout


def log(*args):
    print(f"[{_SCRIPT}]", *args, file=sys.stderr, flush=True)


def capture_stdout():
    """Keep the original stdout for the JSON line; point fd 1 at stderr.

    The Python SDK prints to stdout and the C++ SDK uses std::cout; neither may
    corrupt the one-JSON-line contract. Returns nothing; call once, early."""
    global _json_fd
    if _json_fd is not None:
        return
    sys.stdout.flush()
    _json_fd = os.dup(1)
    os.dup2(2, 1)
    sys.stdout = sys.stderr


def emit(summary):
    """Write the JSON summary line once (later calls are ignored)."""
    global _emitted
    with _emit_lock:
        if _emitted:
            return False
        _emitted = True
        line = json.dumps(summary, separators=(",", ":"), allow_nan=False, default=_json_default) + "\n"
        fd = _json_fd if _json_fd is not None else 1
        data = line.encode()
        while data:
            n = os.write(fd, data)
            data = data[n:]
        return True


def _json_default(o):
    if isinstance(o, (bytes, bytearray)):
        return o.hex()
    if isinstance(o, set):
        return sorted(o)
    return str(o)


def finish(summary, code=EXIT_OK):
    """Emit the summary and leave at once, skipping DDS teardown."""
    emit(summary)
    try:
        sys.stderr.flush()
    except Exception:
        pass
    os._exit(code)


def fail(msg, code=EXIT_ERROR, **extra):
    log("ERROR:", msg)
    s = {"ok": False, "error": msg}
    s.update(extra)
    finish(s, code)


def start_watchdog(limit_s, summary_fn):
    """Hard deadline: after limit_s emit summary_fn() (+error) and exit 4."""

    def fire():
        try:
            s = dict(summary_fn())
        except Exception as e:  # never let the watchdog itself hang
            s = {"summary_error": repr(e)}
        s["ok"] = False
        s["error"] = f"watchdog: still running after {limit_s:.1f}s"
        log("ERROR:", s["error"])
        finish(s, EXIT_WATCHDOG)

    t = threading.Timer(limit_s, fire)
    t.daemon = True
    t.start()
    _install_signal_handlers(summary_fn)
    return t


def _install_signal_handlers(summary_fn):
    """SIGTERM / SIGINT: emit the summary so far (with "interrupted") and exit 0.

    The work happens on a fresh thread: the handler runs on the main thread,
    which may hold a lock that summary_fn needs."""
    import signal

    def finish_interrupted(signum):
        try:
            s = dict(summary_fn())
        except Exception as e:
            s = {"summary_error": repr(e)}
        s["interrupted"] = signal.Signals(signum).name
        log(f"{s['interrupted']}: stopping early")
        finish(s, EXIT_OK)

    def handler(signum, frame):
        threading.Thread(target=finish_interrupted, args=(signum,), daemon=True).start()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, handler)


def require_sdk(*modules):
    """Import the SDK modules or exit 3 with a clear message + JSON line."""
    import importlib

    for m in modules:
        try:
            importlib.import_module(m)
        except Exception as e:  # ImportError, or a broken native lib (OSError)
            cache = os.environ.get("TENDON_CACHE", os.path.expanduser("~/.cache/tendon"))
            msg = (
                f"cannot import {m!r} ({e.__class__.__name__}: {e}). Run scripts/install-peers.sh "
                f"and use its python: {cache}/peers-venv/bin/python (this is {sys.executable})"
            )
            fail(msg, EXIT_NO_SDK)


def check_iface(iface):
    """Refuse anything but a loopback interface: these peers are test tools and
    must never put traffic on a real network (e.g. the robot's 192.168.123.0/24)."""
    flags_path = f"/sys/class/net/{iface}/flags"
    try:
        with open(flags_path) as f:
            flags = int(f.read().strip(), 16)
    except OSError:
        fail(f"network interface {iface!r} does not exist (try --iface lo)", 2)
    IFF_LOOPBACK = 0x8
    if not flags & IFF_LOOPBACK:
        fail(f"interface {iface!r} is not a loopback interface; the peers only run on loopback", 2)


def check_domain(domain):
    # CycloneDDS maps domain d to UDP ports 7400 + 250*d (+...); above 232 they overflow.
    if not 0 <= domain <= 232:
        fail(f"domain id {domain} out of range 0..232", 2)


def f32(x):
    """Round a Python float to the nearest IEEE-754 binary32 value."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


def now():
    return time.monotonic()


def sleep_until(deadline):
    d = deadline - time.monotonic()
    if d > 0:
        time.sleep(d)


def add_dds_args(p, duration=None, domain_default=None):
    p.add_argument("--domain", type=int, required=domain_default is None, default=domain_default,
                   help="DDS domain id (0..232); the real robot uses 0, sims 1")
    p.add_argument("--iface", default="lo", help="network interface (must be loopback; default lo)")
    if duration is not None:
        p.add_argument("--duration", type=float, default=duration,
                       help=f"run time in seconds; the process exits by itself (default {duration})")


def init_sdk_channels(domain, iface):
    """unitree_sdk2py.core.channel.ChannelFactoryInitialize(domain, iface)."""
    from unitree_sdk2py.core.channel import ChannelFactoryInitialize

    t = now()
    ChannelFactoryInitialize(domain, iface)
    log(f"ChannelFactoryInitialize(domain={domain}, iface={iface!r}) took {1e3 * (now() - t):.0f} ms")


def to_jsonable(obj):
    """IDL dataclass -> nested dict (fields in IDL order), arrays -> lists."""
    import dataclasses

    if dataclasses.is_dataclass(obj):
        return {f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(x) for x in obj]
    if isinstance(obj, (bytes, bytearray)):
        return list(obj)
    return obj


# ---- message builders shared by the peers ---------------------------------

def new_lowcmd():
    from unitree_sdk2py.idl.default import unitree_hg_msg_dds__LowCmd_

    return unitree_hg_msg_dds__LowCmd_()


def new_lowstate():
    from unitree_sdk2py.idl.default import unitree_hg_msg_dds__LowState_

    return unitree_hg_msg_dds__LowState_()


_crc = None
_crc_lock = threading.Lock()


def crc_of(msg):
    """unitree_sdk2py.utils.crc.CRC().Crc(msg), from ONE instance.

    CRC is a "Singleton" whose __init__ still re-runs on every CRC() call: it
    reloads the ctypes lib and only then sets crc32_core.restype = c_uint32. A
    thread calling Crc() meanwhile gets the default c_int restype, i.e. a
    negative CRC (seen here: robot_peer's publish loop vs its LowCmd listener).
    So construct it once and never call CRC() again."""
    global _crc
    if _crc is None:
        with _crc_lock:
            if _crc is None:
                from unitree_sdk2py.utils.crc import CRC

                _crc = CRC()
    return _crc.Crc(msg)
