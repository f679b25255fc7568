#!/usr/bin/env python3
"""Independent log-mel reference (numpy + scipy), written from librosa's and torchaudio's
definitions, for cross-checking probegan's tensor front end on the same waveforms.

Usage: mel_reference.py DIR
DIR holds meta.json (the front end's settings, "batch" and "samples") and wave.f64
(row-major little-endian float64, [batch, samples]). Writes features.f64
([batch, n_mels, frames]) and prints {"frames": T}.

Independent of the Rust code in the ways that matter: the STFT is numpy's FFT on
numpy-strided frames, the window is scipy's, padding is np.pad.
"""
import json
import os
import sys

import numpy as np
from scipy.signal import get_window


def hz_to_mel(f, scale):
    f = np.asarray(f, dtype=np.float64)
    if scale == "htk":
        return 2595.0 * np.log10(1.0 + f / 700.0)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    logstep = np.log(6.4) / 27.0
    return np.where(f >= min_log_hz, min_log_hz / f_sp + np.log(np.maximum(f, 1e-300) / min_log_hz) / logstep, f / f_sp)


def mel_to_hz(m, scale):
    m = np.asarray(m, dtype=np.float64)
    if scale == "htk":
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    f_sp, min_log_hz = 200.0 / 3, 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = np.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def filterbank(sr, n_fft, n_mels, fmin, fmax, scale, norm):
    """librosa.filters.mel: triangles over n_mels + 2 mel-spaced points."""
    fftfreqs = np.fft.rfftfreq(n_fft, d=1.0 / sr)
    mel_f = mel_to_hz(np.linspace(hz_to_mel(fmin, scale), hz_to_mel(fmax, scale), n_mels + 2), scale)
    fdiff = np.diff(mel_f)
    ramps = np.subtract.outer(mel_f, fftfreqs)
    weights = np.zeros((n_mels, len(fftfreqs)))
    for i in range(n_mels):
        lower = -ramps[i] / fdiff[i]
        upper = ramps[i + 2] / fdiff[i + 1]
        weights[i] = np.maximum(0, np.minimum(lower, upper))
    if norm == "slaney":
        weights *= (2.0 / (mel_f[2 : n_mels + 2] - mel_f[:n_mels]))[:, None]
    return weights


def features(wave, m):
    n_fft, hop = m["n_fft"], m["hop"]
    window = {"hann": "hann", "hamming": "hamming", "rectangular": "boxcar"}[m["window"]]
    w = get_window(window, n_fft, fftbins=True)
    if m["padding"] == "reflect":
        x = np.pad(wave, n_fft // 2, mode="reflect")
    elif m["padding"] == "zeros":
        x = np.pad(wave, n_fft // 2, mode="constant")
    else:
        x = wave
    frames = 1 + (len(x) - n_fft) // hop
    idx = np.arange(n_fft)[None, :] + hop * np.arange(frames)[:, None]
    spec = np.abs(np.fft.rfft(x[idx] * w, n=n_fft, axis=1)) ** m["power"]  # [T, F]
    fb = filterbank(m["sample_rate"], n_fft, m["n_mels"], m["fmin"], m["fmax"], m["mel_scale"], m["mel_norm"])
    mel = fb @ spec.T  # [n_mels, T]
    log = m["log"]
    if log == "ln":
        mel = np.log(mel + m["log_offset"])
    elif log == "log10":
        mel = np.log10(mel + m["log_offset"])
    elif log == "db":
        mel = 10.0 * np.log10(mel + m["log_offset"])
    return (mel - m["mean"]) / m["std"]


def main():
    d = sys.argv[1]
    with open(os.path.join(d, "meta.json")) as f:
        m = json.load(f)
    wave = np.fromfile(os.path.join(d, "wave.f64"), dtype="<f8").reshape(m["batch"], m["samples"])
    out = np.stack([features(w, m) for w in wave])
    out.astype("<f8").tofile(os.path.join(d, "features.f64"))
    print(json.dumps({"frames": int(out.shape[2])}))


if __name__ == "__main__":
    main()
