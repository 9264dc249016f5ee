# SPDX-License-Identifier: Apache-2.0
"""Byte pipes to a board: pyserial URLs (/dev/ttyACM0, socket://host:port, loop://) and the
TCP connection an emulator opens to us. Both read and write within a time limit and report a
closed line."""

from __future__ import annotations

import socket
from typing import Protocol

import serial

from mcu_mobilenet.errors import UserError

DEFAULT_BAUD = 115200


class LineClosed(UserError):
    """The other end closed the connection."""


class LineStalled(UserError):
    """The other end stopped reading what we write."""

    def __init__(self, description: str, byte_count: int, seconds: float):
        super().__init__(
            f"writing {byte_count} bytes to {description} did not finish within {seconds:.1f} s:"
            " the other end is not reading (is the harness firmware running on it?)"
        )


class Transport(Protocol):
    description: str

    def write(self, data: bytes, timeout: float) -> None:
        """Writes all of `data` within `timeout` seconds, or raises LineStalled."""
        ...

    def read_some(self, max_bytes: int, timeout: float) -> bytes:
        """Returns 1..max_bytes bytes, or b"" when none arrived within `timeout` seconds."""
        ...

    def close(self) -> None: ...


class SerialTransport:
    """A pyserial port opened from a URL."""

    def __init__(self, url: str, baud: int = DEFAULT_BAUD):

        self.description = url
        self._serial_exception = serial.SerialException
        self._write_timeout = serial.SerialTimeoutException
        try:
            self._port = serial.serial_for_url(url, baudrate=baud, timeout=0.1)
        except (serial.SerialException, ValueError, OSError) as error:
            raise UserError(
                f"cannot open serial port {url}: {error} (check the URL, that the board is "
                "plugged in, and that no other program holds the port)"
            ) from error

    def write(self, data: bytes, timeout: float) -> None:
        # No flush(): it waits for the UART to drain, without a time limit.
        try:
            self._port.write_timeout = max(timeout, 0.001)
            self._port.write(data)
        except self._write_timeout:
            raise LineStalled(self.description, len(data), timeout) from None
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

    def write(self, data: bytes, timeout: float) -> None:
        self._socket.settimeout(max(timeout, 0.001))  # a limit on the whole sendall
        try:
            self._socket.sendall(data)
        except TimeoutError:
            raise LineStalled(self.description, len(data), timeout) from None
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
