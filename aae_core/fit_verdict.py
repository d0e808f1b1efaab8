"""The verdict on how well codes fit their prior, from the MMD and the MMD of the prior against itself.
Plain Python (no torch): the app's model table reads it before any model is loaded."""

from __future__ import annotations

# MMD of two independent 2,000-sample draws of one Gaussian prior (the app's and `evaluate`'s sample size)
# spreads with a standard deviation of about 0.0002 (2-D) and 0.0001 (10-D), measured over 8 seeds: below
# that, a difference is sampling noise. The verdict compares a model's MMD with its same-prior reference,
# floored at this noise.
MMD_NOISE_FLOOR = 3e-4
MATCH_FACTOR, CLOSE_FACTOR = 3.0, 10.0


def fit_reference(mmd_same_prior: float) -> float:
    """The same-prior reference an MMD is judged against: the MMD of the prior against itself, floored at
    MMD_NOISE_FLOOR (the unbiased estimate scatters around 0 and can be slightly negative)."""
    return max(abs(mmd_same_prior), MMD_NOISE_FLOOR)


def fit_verdict(mmd: float, mmd_same_prior: float) -> tuple[str, str]:
    """(level, sentence) in plain words for an MMD against its same-prior reference: level "match" when the
    MMD is within MATCH_FACTOR times the reference (floored at MMD_NOISE_FLOOR), "close" within CLOSE_FACTOR
    times, else "mismatch"."""
    scale = fit_reference(mmd_same_prior)
    ratio = mmd / scale
    if ratio <= MATCH_FACTOR:
        return "match", (f"The codes match the prior: MMD {mmd:.4f} is within {MATCH_FACTOR:g}x the same-prior "
                         f"reference ({scale:.4f}), i.e. about what two samples of the prior itself differ by.")
    if ratio <= CLOSE_FACTOR:
        return "close", (f"The codes are close to the prior but not the same: MMD {mmd:.4f} is {ratio:.1f}x the "
                         f"same-prior reference ({scale:.4f}); a match would be within {MATCH_FACTOR:g}x.")
    return "mismatch", (f"The codes do not match the prior: MMD {mmd:.4f} is {ratio:.0f}x the same-prior "
                        f"reference ({scale:.4f}); look for dimensions whose histogram leaves the prior's shape.")
