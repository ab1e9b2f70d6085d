//! Exponential decay of usage, computed the same on every platform.
//!
//! Usage decays with a half-life: what was used `t` ago counts `2^(-t/h)`.
//! The power of two is computed here from additions and multiplications
//! only (IEEE 754 rounds those exactly alike everywhere), not with the
//! platform's `exp2`, whose last bits may differ between C libraries; so a
//! log replayed on another machine gives the same usage to the bit.

/// `ln 2`, for the integral of a decaying rate.
const LN_2: f64 = std::f64::consts::LN_2;

/// `1 / k!` for k = 0 to 13: the series of `e^y` to the term that no
/// longer changes an `f64` for `|y|` up to `ln 2 / 2`.
const INVERSE_FACTORIALS: [f64; 14] = {
    let mut terms = [1.0; 14];
    let mut k = 1;
    while k < 14 {
        terms[k] = terms[k - 1] / k as f64;
        k += 1;
    }
    terms
};

/// `2^x` for `x` at most 0, from basic arithmetic only. Below `2^-1022`
/// the result is 0.
pub fn exp2_nonpositive(x: f64) -> f64 {
    assert!(x <= 0.0, "decay exponents are never positive, got {x}");
    if x < -1022.0 {
        return 0.0;
    }
    // x = whole + fraction with the fraction in [-1/2, 1/2].
    let whole = (x + 0.5).floor();
    let fraction = x - whole;
    let y = fraction * LN_2;
    // e^y by Horner's rule over the series.
    let mut sum = 0.0;
    for coefficient in INVERSE_FACTORIALS.iter().rev() {
        sum = sum * y + coefficient;
    }
    let exponent = whole as i64 + 1023;
    if exponent <= 0 {
        return 0.0;
    }
    sum * f64::from_bits((exponent as u64) << 52)
}

/// What a usage of `usage_milli` (in thousandths of a usage unit) as of
/// `from_ms` is at `to_ms`, with `rate_milli` more units per second accrued
/// all the while, under a half-life of `half_life_s`. The accrual decays
/// too: `u(t) = u0 d + r h / ln 2 (1 - d)` with `d = 2^(-(t - t0) / h)`.
pub fn decayed_usage_milli(
    usage_milli: u64,
    rate_milli: u64,
    from_ms: u64,
    to_ms: u64,
    half_life_s: u64,
) -> u64 {
    if to_ms <= from_ms {
        return usage_milli;
    }
    let elapsed_s = (to_ms - from_ms) as f64 / 1000.0;
    let half_life_s = half_life_s.max(1) as f64;
    let decay = exp2_nonpositive(-elapsed_s / half_life_s);
    let kept = usage_milli as f64 * decay;
    let accrued = rate_milli as f64 * half_life_s / LN_2 * (1.0 - decay);
    (kept + accrued).round() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn powers_of_two_are_exact_and_fractions_close() {
        assert_eq!(exp2_nonpositive(0.0), 1.0);
        assert_eq!(exp2_nonpositive(-1.0), 0.5);
        assert_eq!(exp2_nonpositive(-10.0), 1.0 / 1024.0);
        assert_eq!(exp2_nonpositive(-2000.0), 0.0);
        for x in [-0.5, -0.25, -3.7, -100.125] {
            let relative = (exp2_nonpositive(x) - x.exp2()).abs() / x.exp2();
            assert!(relative < 1e-15, "2^{x}: {relative}");
        }
    }

    #[test]
    fn usage_halves_in_a_half_life_and_a_steady_rate_converges() {
        let day_ms = 24 * 3600 * 1000;
        assert_eq!(
            decayed_usage_milli(1000, 0, 0, 7 * day_ms, 7 * 24 * 3600),
            500
        );
        assert_eq!(decayed_usage_milli(1000, 0, 5, 5, 60), 1000);
        // A rate held for many half-lives approaches rate * h / ln 2.
        let steady = decayed_usage_milli(0, 1000, 0, 100 * 60_000, 60);
        assert_eq!(steady, (1000.0 * 60.0 / LN_2).round() as u64);
    }
}
