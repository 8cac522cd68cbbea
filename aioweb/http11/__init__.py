"""HTTP/1.1 without I/O: bytes in, events out; responses in, bytes out.

Nothing in this package touches a socket, a loop or a clock, so every rule of
RFC 9112 here can be tested by feeding it bytes — whole, or one at a time.
"""
