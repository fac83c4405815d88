"""An emulated TMP102: pointer register, continuous conversions on a clock, comparator alert.

Behaves as the datasheet (TI SBOS397) says: a write's first byte sets the
pointer (P1:P0), following bytes are written MSB first to that register; reads
return the register the pointer selects, MSB first, and repeat it past two
bytes.  Conversions run at the CR1:CR0 rate (4 Hz after power-on), the first
one finishing 26 ms (typical) after power-on, before which the temperature
register reads 0x0000; shutdown (SD) stops them; a one-shot (OS) write in
shutdown converts once.  The comparator alert follows T_HIGH / T_LOW with
polarity POL.
"""

from __future__ import annotations

import math
import threading
from typing import Callable

from firmware import tmp102 as ds
from firmware.clock import Clock

FIRST_CONVERSION_S = 0.026  # DS 6.5: conversion time, typical 26 ms
_RATES_HZ = {0b00: 0.25, 0b01: 1.0, 0b10: 4.0, 0b11: 8.0}  # DS 7.5.3 "Conversion Rate" (CR1:CR0)
_WRITABLE = 0xFFFF & ~(ds.CONFIG_RESOLUTION | ds.CONFIG_ALERT | ds.CONFIG_RESERVED)


def raw_for_temperature(temp_c: float, extended: bool = False) -> int:
    """The temperature register word for ``temp_c`` (DS 7.5.2), clipped to the format's range."""
    bits = 13 if extended else 12
    value = int(math.floor(temp_c / ds.CELSIUS_PER_LSB))
    value = min(max(value, -(1 << (bits - 1))), (1 << (bits - 1)) - 1)
    return ((value & ((1 << bits) - 1)) << (16 - bits)) | (1 if extended else 0)


class EmulatedTMP102:
    """A TMP102 on an :class:`EmulatedBus`, fed by ``temp_source(t_mono) -> temp_c`` on ``clock``."""

    def __init__(self, clock: Clock, temp_source: Callable[[float], float]):
        self.clock = clock
        self.temp_source = temp_source
        self._lock = threading.Lock()
        self.power_on_reset()

    def power_on_reset(self) -> None:
        with self._lock:
            self.pointer = ds.Pointer.TEMPERATURE
            self.config = ds.CONFIG_POWER_ON
            self.t_low = ds.T_LOW_POWER_ON
            self.t_high = ds.T_HIGH_POWER_ON
            self.temperature = 0x0000
            self._alert_active = False
            self._powered_at = self.clock.monotonic()
            self._last_conversion: float | None = None
            self._one_shot_at: float | None = None

    # ------------------------------------------------------------ conversions

    def _convert(self, t: float) -> None:
        extended = bool(self.config & ds.CONFIG_EXTENDED)
        self.temperature = raw_for_temperature(self.temp_source(t), extended)
        self._last_conversion = t
        temp = ds.temperature_c(self.temperature)
        if temp >= ds.temperature_c(self.t_high):
            self._alert_active = True
        elif temp < ds.temperature_c(self.t_low):
            self._alert_active = False

    def _update(self) -> None:
        """Bring the temperature register up to the latest conversion due by now."""
        now = self.clock.monotonic()
        if self._one_shot_at is not None and now >= self._one_shot_at:
            self._convert(self._one_shot_at)
            self._one_shot_at = None
        if self.config & ds.CONFIG_SHUTDOWN:
            return
        first = self._powered_at + FIRST_CONVERSION_S
        if now < first:
            return
        period = 1.0 / _RATES_HZ[(self.config & ds.CONFIG_RATE) >> 6]
        latest = first + math.floor((now - first) / period) * period
        if self._last_conversion is None or latest > self._last_conversion:
            self._convert(latest)

    def _register(self, pointer: int) -> int:
        if pointer == ds.Pointer.TEMPERATURE:
            return self.temperature
        if pointer == ds.Pointer.CONFIG:
            alert = self._alert_active ^ (not self.config & ds.CONFIG_POLARITY)  # POL=0: AL reads 0 when active
            return (self.config & ~ds.CONFIG_ALERT) | (ds.CONFIG_ALERT if alert else 0)
        return self.t_low if pointer == ds.Pointer.T_LOW else self.t_high

    # ------------------------------------------------------------ the wire

    def write(self, data: bytes) -> None:
        if not data:
            return
        with self._lock:
            self._update()
            self.pointer = data[0] & 0x03  # DS 7.5.1: P7..P2 must be 0; only P1:P0 select
            if len(data) < 3:
                return  # pointer only (or an incomplete word, which the chip ignores)
            value = (data[1] << 8) | data[2]
            if self.pointer == ds.Pointer.CONFIG:
                if value & ds.CONFIG_OS and self.config & ds.CONFIG_SHUTDOWN:
                    self._one_shot_at = self.clock.monotonic() + FIRST_CONVERSION_S
                was_shut_down = self.config & ds.CONFIG_SHUTDOWN
                self.config = (self.config & ~_WRITABLE) | (value & _WRITABLE & ~ds.CONFIG_OS)
                if was_shut_down and not self.config & ds.CONFIG_SHUTDOWN:
                    self._powered_at = self.clock.monotonic()
                    self._last_conversion = None
            elif self.pointer == ds.Pointer.T_LOW:
                self.t_low = value & 0xFFF0
            elif self.pointer == ds.Pointer.T_HIGH:
                self.t_high = value & 0xFFF0

    def read(self, n: int) -> bytes:
        with self._lock:
            self._update()
            value = self._register(self.pointer)
            pair = bytes([(value >> 8) & 0xFF, value & 0xFF])
            return (pair * (n // 2 + 1))[:n]
