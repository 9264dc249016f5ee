# SPDX-License-Identifier: Apache-2.0
"""Byte pipes to a board: pyserial URLs (/dev/ttyACM0, socket://host:port, loop://) and the
TCP connection an emulator opens to us. Both read with a timeout and report a closed line."""

from __future__ import annotations

import socket
from typing import Protocol

import serial

from mcu_mobilenet.errors import UserError

DEFAULT_BAUD = 115200


class LineClosed(UserError):
    """The other end closed the connection."""


class Transport(Protocol):
    description: str

    def write(self, data: bytes) -> None: ...

    def read_some(self, max_bytes: int, timeout: float) -> bytes:
        """Returns 1..max_bytes bytes, or b"" when none arrived within `timeout` seconds."""
        ...

    def close(self) -> None: ...


class SerialTransport:
    """A pyserial port opened from a URL."""

    def __init__(self, url: str, baud: int = DEFAULT_BAUD):

        self.description = url
        self._serial_exception = serial.SerialException
        try:
            self._port = serial.serial_for_url(url, baudrate=baud, timeout=0.1)
        except (serial.SerialException, ValueError, OSError) as error:
            raise UserError(
                f"cannot open serial port {url}: {error} (check the URL, that the board is "
                "plugged in, and that no other program holds the port)"
            ) from error

    def write(self, data: bytes) -> None:
        try:
            self._port.write(data)
            self._port.flush()
        except (self._serial_exception, OSError) as error:
            raise LineClosed(f"writing to {self.description} failed: {error}") from error

    def read_some(self, max_bytes: int, timeout: float) -> bytes:
        try:
            self._port.timeout = timeout
            data = self._port.read(1)
            waiting = self._port.in_waiting if data else 0
            if waiting:
                data += self._port.read(min(waiting, max_bytes - 1))
            return data
        except (self._serial_exception, OSError) as error:
            raise LineClosed(f"the connection to {self.description} closed: {error}") from error

    def close(self) -> None:
        self._port.close()


class SocketTransport:
    """A connected TCP socket (an emulator's UART)."""

    def __init__(self, connection: socket.socket, description: str):
        self.description = description
        self._socket = connection

    def write(self, data: bytes) -> None:
        try:
            self._socket.sendall(data)
        except OSError as error:
            raise LineClosed(f"writing to {self.description} failed: {error}") from error

    def read_some(self, max_bytes: int, timeout: float) -> bytes:
        self._socket.settimeout(timeout)
        try:
            data = self._socket.recv(max_bytes)
        except TimeoutError:
            return b""
        except OSError as error:
            raise LineClosed(f"the connection to {self.description} failed: {error}") from error
        if not data:
            raise LineClosed(f"{self.description} closed the connection")
        return data

    def close(self) -> None:
        self._socket.close()
