"""mcu-mobilenet: MobileNets on microcontrollers."""

__version__ = "0.1.0"
