# The board layer for sockets: the one place where the Unix port (the virtual board) and ESP32
# (lwIP) differ. Firmware calls these instead of using addresses directly.
#
#   addr(host, port) -> what socket.sendto/connect/bind take on this port
#   peer(a)          -> (ip_text, port) from what recvfrom returns on this port
#
# The Unix port takes and returns raw sockaddr bytes; ESP32 takes and returns (ip, port) tuples.
import socket


def addr(host, port):
    return socket.getaddrinfo(host, port, 0, socket.SOCK_DGRAM)[0][-1]


def peer(a):
    if isinstance(a, tuple):
        return (a[0], a[1])
    if hasattr(socket, "sockaddr"):
        s = socket.sockaddr(a)  # (family, ip, port, ...); ip as 4 bytes on the Unix port
        ip = s[1]
        if not isinstance(ip, str):
            ip = "%d.%d.%d.%d" % (ip[0], ip[1], ip[2], ip[3])
        return (ip, s[2])
    b = bytes(a)  # struct sockaddr_in: family (host order), port (big endian), ipv4
    return ("%d.%d.%d.%d" % (b[4], b[5], b[6], b[7]), (b[2] << 8) | b[3])
