#!/usr/bin/env python3
"""Bounded TCP/UDP reachability probes, for the exposure tests (run inside a lab netns).

Usage: probe.py [--timeout S] ADDR PROTO:PORT...      e.g. probe.py 10.213.0.10 tcp:22 tcp:5432 udp:51820
Prints one JSON object: {"tcp:22": "open", ...}. One attempt per port, all in parallel, each
bounded by --timeout (default 2 s), so the whole run ends within about that time.

TCP:  open      the handshake completed (something listens and the firewall let the SYN in)
      refused   RST: the host's TCP stack answered (the firewall let the SYN in; nothing listens)
      filtered  no answer within the timeout (dropped)
      error:... anything else (unreachable network, ...)
UDP:  closed    ICMP port unreachable came back (not filtered, nothing listens)
      no-reply  nothing came back (dropped, or a silent listener such as WireGuard: for UDP
                51820 the WireGuard handshake is the proof, not this probe)
Only for the lab's own addresses.
"""
import concurrent.futures
import errno
import json
import socket
import sys


def tcp(addr, port, timeout):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((addr, port))
        return "open"
    except ConnectionRefusedError:
        return "refused"
    except (socket.timeout, TimeoutError):
        return "filtered"
    except OSError as e:
        return f"error:{errno.errorcode.get(e.errno, e.errno)}"
    finally:
        s.close()


def udp(addr, port, timeout):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(timeout)
    try:
        s.connect((addr, port))
        s.send(b"\x00" * 8)
        s.recv(64)
        return "reply"
    except ConnectionRefusedError:
        return "closed"
    except (socket.timeout, TimeoutError):
        return "no-reply"
    except OSError as e:
        return f"error:{errno.errorcode.get(e.errno, e.errno)}"
    finally:
        s.close()


def main(argv):
    timeout = 2.0
    if len(argv) > 1 and argv[0] == "--timeout":
        timeout = float(argv[1])
        argv = argv[2:]
    if len(argv) < 2:
        sys.exit(__doc__)
    addr, targets = argv[0], argv[1:]
    if len(targets) > 64:
        sys.exit("at most 64 probes per run")
    checks = {"tcp": tcp, "udp": udp}
    with concurrent.futures.ThreadPoolExecutor(max_workers=len(targets)) as pool:
        futures = {}
        for t in targets:
            proto, port = t.split(":")
            futures[t] = pool.submit(checks[proto], addr, int(port), timeout)
        print(json.dumps({t: f.result() for t, f in futures.items()}))


if __name__ == "__main__":
    main(sys.argv[1:])
