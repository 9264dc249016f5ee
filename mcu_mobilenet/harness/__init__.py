"""Host side of the firmware harness: the framed protocol, serial ports, emulators."""
