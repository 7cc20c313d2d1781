"""Times the peer libraries on the workloads of `benches/edt.rs` and `benches/metrics.rs`.

Run it right before or after the Rust benches on the same machine, so that the ratios in
`docs/benchmarks.md` compare runs made under the same conditions:

    pip install scipy scikit-image
    python3 benches/peers/timings.py

Each workload is timed as the median of several repetitions (one for the slowest ones).
"""

import statistics
import time

import numpy as np
import scipy.linalg
import scipy.ndimage
import skimage.metrics


def median_seconds(function, repeats):
    """Median wall time of `repeats` calls of `function`, after one warm-up call."""
    function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def ellipse_mask(n):
    """The centred ellipse of `benches/edt.rs` (semi-axes 0.35 n along x, 0.22 n along y)."""
    y, x = np.mgrid[0:n, 0:n].astype(np.float64) - n / 2.0
    return (x / (0.35 * n)) ** 2 + (y / (0.22 * n)) ** 2 <= 1.0


def frechet_sqrtm(mu1, s1, mu2, s2):
    """pytorch-fid's / MONAI's route: scipy.linalg.sqrtm of the covariance product."""
    covmean = scipy.linalg.sqrtm(s1 @ s2)
    covmean = covmean.real
    diff = mu1 - mu2
    return diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean)


def frechet_eigvals(mu1, s1, mu2, s2):
    """torchmetrics' route: the square roots of the eigenvalues of Σ₁Σ₂."""
    eigenvalues = scipy.linalg.eigvals(s1 @ s2)
    diff = mu1 - mu2
    return diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.sqrt(eigenvalues).real.sum()


def random_covariance(rng, d):
    """Covariance of `d + 64` seeded random feature vectors, as in `benches/metrics.rs`."""
    features = rng.standard_normal((d + 64, d))
    return np.cov(features, rowvar=False)


def main():
    rng = np.random.default_rng(0)
    rows = []

    mask = ellipse_mask(512)
    rows.append((
        "edt/ellipse_512x512_both_sides (scipy)",
        median_seconds(lambda: (scipy.ndimage.distance_transform_edt(mask),
                                scipy.ndimage.distance_transform_edt(~mask)), 10),
    ))
    volume = rng.random((128, 128, 128)) < 0.01
    rows.append((
        "edt/volume_128x128x128_1pct (scipy)",
        median_seconds(lambda: scipy.ndimage.distance_transform_edt(~volume), 3),
    ))

    image = rng.random((512, 512))
    noisy = np.clip(image + 0.1 * rng.standard_normal((512, 512)), 0.0, 1.0)
    rows.append((
        "metrics/ssim_gaussian_512x512 (scikit-image)",
        median_seconds(lambda: skimage.metrics.structural_similarity(
            image, noisy, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
            data_range=1.0), 10),
    ))

    for d, repeats in [(512, 3), (2048, 1)]:
        mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
        s1, s2 = random_covariance(rng, d), random_covariance(rng, d)
        rows.append((f"metrics/frechet_d{d} (scipy sqrtm)",
                     median_seconds(lambda: frechet_sqrtm(mu1, s1, mu2, s2), repeats)))
        rows.append((f"metrics/frechet_d{d} (eigvals of Σ₁Σ₂)",
                     median_seconds(lambda: frechet_eigvals(mu1, s1, mu2, s2), repeats)))

    for name, seconds in rows:
        print(f"{name:55s} {seconds * 1e3:10.2f} ms")


if __name__ == "__main__":
    main()
