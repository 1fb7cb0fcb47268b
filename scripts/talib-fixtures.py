#!/usr/bin/env python3
"""Writes test/fixtures/talib-indicators.json: indicator values computed by TA-Lib itself, which the
indicator unit tests (test/unit/stream-processors/indicators/) must match within 1e-9 after warm-up.

Re-run (TA-Lib's Python package ships wheels, no C library to build):
    python3 -m venv /tmp/talib-venv && /tmp/talib-venv/bin/pip install TA-Lib numpy
    /tmp/talib-venv/bin/python scripts/talib-fixtures.py
The bars are a seeded random walk of integer KRW prices, so the file only changes with TA-Lib.
"""
import json
import os
import random

import numpy as np
import talib

rng = random.Random(20261120)
bars = []
price = 61_000
for i in range(400):
    o = price
    moves = [rng.randint(-8, 8) * 100 for _ in range(6)]
    path = [o]
    for m in moves:
        path.append(max(100, path[-1] + m))
    # A flat stretch: zero ranges and zero changes exercise TA-Lib's division guards.
    if 150 <= i < 170:
        path = [o] * 7
    c = path[-1]
    vol = rng.randint(1, 5000)
    bars.append({"high": max(path), "low": min(path), "close": c, "volume": vol, "tradedValue": vol * c})
    price = c

high = np.array([b["high"] for b in bars], dtype=float)
low = np.array([b["low"] for b in bars], dtype=float)
close = np.array([b["close"] for b in bars], dtype=float)
volume = np.array([b["volume"] for b in bars], dtype=float)

macd, signal, hist = talib.MACD(close, fastperiod=12, slowperiod=26, signalperiod=9)
upper, middle, lower = talib.BBANDS(close, timeperiod=20, nbdevup=2, nbdevdn=2, matype=0)
slowk, slowd = talib.STOCH(high, low, close, fastk_period=14, slowk_period=3, slowk_matype=0, slowd_period=3, slowd_matype=0)
series = {
    "sma5": talib.SMA(close, 5), "sma20": talib.SMA(close, 20), "sma60": talib.SMA(close, 60),
    "sma120": talib.SMA(close, 120), "sma200": talib.SMA(close, 200),
    "ema12": talib.EMA(close, 12), "ema26": talib.EMA(close, 26), "rsi14": talib.RSI(close, 14),
    "macd": macd, "macdSignal": signal, "macdHist": hist,
    "bbUpper": upper, "bbMiddle": middle, "bbLower": lower,
    "stochK": slowk, "stochD": slowd, "atr14": talib.ATR(high, low, close, 14),
    "volumeSma20": talib.SMA(volume, 20),
}
out = {
    "generator": "scripts/talib-fixtures.py",
    "talib": talib.__version__,
    "bars": bars,
    "expected": {k: [None if np.isnan(v) else float(v) for v in arr] for k, arr in series.items()},
}
path = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "talib-indicators.json")
with open(path, "w") as f:
    json.dump(out, f, separators=(",", ":"))
    f.write("\n")
print(f"wrote {path}: {len(bars)} bars, TA-Lib {talib.__version__}")
