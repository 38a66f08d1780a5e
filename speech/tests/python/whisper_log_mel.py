"""Independent reference for tendon-speech's log-mel: openai-whisper's
`log_mel_spectrogram` (whisper/audio.py) written with librosa + numpy.

    python whisper_log_mel.py IN OUT [IN OUT ...]            # log-mel, [80][n_frames]
    python whisper_log_mel.py --filters OUT_F32LE            # librosa's 80 x 201 filters
    python whisper_log_mel.py --bench AUDIO_F32LE REPEATS    # median seconds per call

whisper/audio.py: torch.stft(n_fft=400, hop=160, hann_window(400), center,
reflect) -> |.|^2 without the last frame -> librosa mel filters (the
mel_filters.npz whisper ships was made by librosa.filters.mel(sr=16000,
n_fft=400, n_mels=80)) -> log10(clamp 1e-10) -> max(x, max - 8) -> (x+4)/4.
librosa's 'hann' window is periodic like torch.hann_window.
"""
import sys
import time

import librosa
import numpy as np

FILTERS = librosa.filters.mel(sr=16000, n_fft=400, n_mels=80)


def log_mel(audio):
    stft = librosa.stft(audio, n_fft=400, hop_length=160, window="hann", center=True, pad_mode="reflect")
    magnitudes = np.abs(stft[:, :-1]) ** 2
    mel = FILTERS @ magnitudes
    log_spec = np.log10(np.maximum(mel, 1e-10))
    log_spec = np.maximum(log_spec, log_spec.max() - 8.0)
    return ((log_spec + 4.0) / 4.0).astype(np.float32)


def main():
    if sys.argv[1] == "--filters":
        FILTERS.astype(np.float32).tofile(sys.argv[2])
    elif sys.argv[1] == "--bench":
        audio = np.fromfile(sys.argv[2], dtype=np.float32)
        times = []
        for _ in range(int(sys.argv[3])):
            t = time.perf_counter()
            log_mel(audio)
            times.append(time.perf_counter() - t)
        print(float(np.median(times)))
    else:
        # Several clips per call: importing librosa takes seconds.
        args = sys.argv[1:]
        for src, dst in zip(args[0::2], args[1::2]):
            log_mel(np.fromfile(src, dtype=np.float32)).tofile(dst)


if __name__ == "__main__":
    main()
