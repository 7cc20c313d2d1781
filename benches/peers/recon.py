"""The peers of `benches/recon.rs`: numpy's centred FFT and scikit-image's radon / iradon on
the same workloads (4 images of 64 x 64, 60 views over 180 degrees). Medians of 20 runs.

    pip install scikit-image && python3 benches/peers/recon.py
"""

import statistics
import time

import numpy as np
from skimage.transform import iradon, radon


def median_ms(fn, runs=20):
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def main():
    rng = np.random.default_rng(0)
    images = rng.standard_normal((4, 64, 64)) + 1j * rng.standard_normal((4, 64, 64))

    def fft2c():
        np.fft.fftshift(np.fft.fft2(np.fft.ifftshift(images, axes=(-2, -1)), norm="ortho"),
                        axes=(-2, -1))

    theta = np.linspace(0.0, 180.0, 60, endpoint=False)
    rows, cols = np.mgrid[:64, :64]
    inside = (rows - 32) ** 2 + (cols - 32) ** 2 <= 32**2
    real = rng.standard_normal((4, 64, 64)) * inside
    sinograms = [radon(x, theta=theta, circle=True) for x in real]

    def project():
        for x in real:
            radon(x, theta=theta, circle=True)

    def fbp():
        for s in sinograms:
            iradon(s, theta=theta, filter_name="ramp", circle=True, interpolation="linear")

    print(f"numpy fft2c 4 x 64x64:           {median_ms(fft2c):8.3f} ms")
    print(f"scikit-image radon 4 x 64, 60 v: {median_ms(project):8.3f} ms")
    print(f"scikit-image iradon 4 x 64, 60 v:{median_ms(fbp):8.3f} ms")


if __name__ == "__main__":
    main()
