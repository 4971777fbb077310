"""Loaded by Python at start-up when this folder is on PYTHONPATH: the network is off.

Any connection to a host other than loopback raises, so a test run in a subprocess with
this on its path proves that nothing (model hubs, telemetry) is reached.  Prefect's local
server on 127.0.0.1 still works.
"""
import socket

_connect = socket.socket.connect
_LOCAL = ("127.", "::1", "localhost")


def _guarded(self, address):
    host = address[0] if isinstance(address, tuple) else str(address)
    if self.family in (socket.AF_INET, socket.AF_INET6) and not str(host).startswith(_LOCAL):
        raise OSError(f"network is off in this test (connection to {host} refused)")
    return _connect(self, address)


socket.socket.connect = _guarded
