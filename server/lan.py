"""``tandem serve --lan`` (issue 17): a class run from a teacher's laptop on the school's Wi-Fi.

Finds the machine's network address (the one its default route leaves by), and shows the
address learners type with a QR code of it in the terminal. The CLI (server/cli.py) then
listens on that address only and keeps every rule a network needs: the address's origin
joins the allowed origins, join links use it (``TANDEM_PUBLIC_URL``), the signing key is
the same as ever, and rate limits must be on.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import TextIO

import segno

# Connecting a UDP socket sends nothing: the kernel only picks the route, and with it the
# source address other machines see. TEST-NET-1 (RFC 5737) follows the default route; the
# private ranges find the address of a network without one (a hotspot with no internet).
_PROBES = ("192.0.2.1", "10.255.255.255", "172.31.255.255", "192.168.255.255")


def _usable(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return not (ip.is_loopback or ip.is_unspecified or ip.is_multicast)


def network_address() -> str | None:
    """The machine's IPv4 address on its network, or None when it has only loopback."""
    for probe in _PROBES:
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                udp.connect((probe, 9))
                address: str = udp.getsockname()[0]
        except OSError:
            continue
        if _usable(address):
            return address
    try:
        infos = socket.getaddrinfo(socket.gethostname(), None, socket.AF_INET)
    except OSError:
        return None
    for *_, sockaddr in infos:
        candidate = str(sockaddr[0])
        if _usable(candidate):
            return candidate
    return None


def print_banner(origin: str, out: TextIO) -> None:
    """What the teacher reads out, or turns the screen to the class for."""
    print(f"\nTandem is open to this network at  {origin}\n", file=out)
    print(
        "Learners on the same Wi-Fi type that address, or scan this code with a phone's camera:",
        file=out,
    )
    segno.make(origin, error="m").terminal(out=out, compact=True, border=2)
    print(
        f"Open {origin} on this computer too (sign in as a teacher; the Invite button shows\n"
        "join links and QR codes for the class). Anyone on this network can reach the\n"
        "address; press Ctrl+C to stop serving.\n",
        file=out,
        flush=True,
    )
