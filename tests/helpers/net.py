#!/usr/bin/env python3
"""net.py - the network tests' client and server (inside and outside containers).

  net.py serve ADDR PORT tcp|udp [COUNT]   answer "hello <peer address>" to COUNT
                                           clients (default: forever); prints
                                           "ready" once it listens
  net.py connect ADDR PORT tcp|udp [SECS]  print the answer, or "error: <ERRNO>"
                                           (timeout: "error: TIMEOUT"); exit 0 only
                                           on an answer
"""
import errno
import socket
import sys


def serve(addr, port, proto, count):
    kind = socket.SOCK_STREAM if proto == "tcp" else socket.SOCK_DGRAM
    s = socket.socket(socket.AF_INET, kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((addr, port))
    if proto == "tcp":
        s.listen(16)
    print("ready", flush=True)
    n = 0
    while count == 0 or n < count:
        if proto == "tcp":
            c, peer = s.accept()
            try:
                c.sendall(("hello %s\n" % peer[0]).encode())
            except OSError:
                pass
            c.close()
        else:
            _, peer = s.recvfrom(512)
            s.sendto(("hello %s\n" % peer[0]).encode(), peer)
        n += 1


def connect(addr, port, proto, secs):
    try:
        if proto == "tcp":
            s = socket.create_connection((addr, port), timeout=secs)
            data = s.recv(512)
        else:
            # three tries, as a UDP client would (slirp4netns drops the
            # datagram that makes it look up the container's MAC address)
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            s.settimeout(secs / 3)
            for attempt in range(3):
                s.sendto(b"hi", (addr, port))
                try:
                    data, _ = s.recvfrom(512)
                    break
                except socket.timeout:
                    if attempt == 2:
                        raise
    except socket.timeout:
        print("error: TIMEOUT")
        return 1
    except OSError as e:
        print("error: %s" % errno.errorcode.get(e.errno, str(e.errno)))
        return 1
    sys.stdout.write(data.decode())
    return 0 if data else 1


def main():
    a = sys.argv[1:]
    if len(a) >= 4 and a[0] == "serve":
        serve(a[1], int(a[2]), a[3], int(a[4]) if len(a) > 4 else 0)
        return 0
    if len(a) >= 4 and a[0] == "connect":
        return connect(a[1], int(a[2]), a[3], float(a[4]) if len(a) > 4 else 2.0)
    sys.stderr.write(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
