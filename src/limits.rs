//! Sizes a user asks for, checked before anything is allocated (issue #16): a count that must
//! be positive, and an allocation that this machine cannot hold, are clear errors that name
//! what was asked, instead of a panic deep inside or an abort with "memory allocation failed".

/// A requested allocation larger than the memory this machine has free.
#[derive(Debug, thiserror::Error, PartialEq)]
#[error(
    "{what} needs {} of memory, and {} is available here; {hint}",
    human_bytes(*need),
    human_bytes(*have)
)]
pub struct TooLarge {
    /// What would be allocated (with the flag that asked for it).
    pub what: String,
    /// Bytes it needs.
    pub need: u128,
    /// Bytes available.
    pub have: u128,
    /// What to do instead.
    pub hint: String,
}

/// Bytes of memory available to a new allocation: `MemAvailable` of `/proc/meminfo` on Linux,
/// else `None` (then only sizes beyond the address space are refused).
pub fn available_memory() -> Option<u128> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u128 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Checks that `count` items of `bytes_each` bytes fit in the memory available (or, where that
/// is unknown, in the address space). `what` and `hint` make the message.
pub fn check_allocation(
    what: impl Into<String>,
    count: u128,
    bytes_each: u128,
    hint: impl Into<String>,
) -> Result<(), TooLarge> {
    let need = count.saturating_mul(bytes_each);
    let have = available_memory().unwrap_or(isize::MAX as u128);
    if need > have {
        return Err(TooLarge {
            what: what.into(),
            need,
            have,
            hint: hint.into(),
        });
    }
    Ok(())
}

/// `12.3 GB`-style sizes (powers of 1,000).
pub fn human_bytes(b: u128) -> String {
    let units = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < units.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", units[u])
    }
}

/// A clap value parser for counts that must be at least 1.
pub fn positive(s: &str) -> Result<usize, String> {
    match s.trim().parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(v) => Ok(v),
        Err(_) if s.trim().starts_with('-') => Err("must be a positive whole number".into()),
        Err(e) => Err(format!("not a whole number ({e})")),
    }
}

/// A clap value parser for `u64` counts that must be at least 1.
pub fn positive_u64(s: &str) -> Result<u64, String> {
    positive(s).map(|v| v as u64)
}

/// A clap value parser for a finite, strictly positive real (a learning rate, an snr).
pub fn positive_real(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(v),
        Ok(v) => Err(format!("must be finite and > 0 (got {v})")),
        Err(e) => Err(format!("not a number ({e})")),
    }
}

/// A clap value parser for a finite real number ≥ 0 (the SDE's noise dial γ).
pub fn non_negative_real(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        Ok(v) => Err(format!("must be finite and ≥ 0 (got {v})")),
        Err(e) => Err(e.to_string()),
    }
}

/// A clap value parser for a fraction in [0, 1] (DDIM's η).
pub fn unit_interval(s: &str) -> Result<f64, String> {
    match s.trim().parse::<f64>() {
        Ok(v) if (0.0..=1.0).contains(&v) => Ok(v),
        Ok(v) => Err(format!("must be in [0, 1] (got {v})")),
        Err(e) => Err(format!("not a number ({e})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(800_000_000_000), "800.0 GB");
        assert_eq!(human_bytes(1_500), "1.5 kB");
    }

    #[test]
    fn parsers_refuse_zero_negative_and_nonsense() {
        assert_eq!(positive("3"), Ok(3));
        assert!(positive("0").unwrap_err().contains("at least 1"));
        assert!(positive("-2").unwrap_err().contains("positive"));
        assert!(positive("x").is_err());
        assert_eq!(positive_real("5e-3"), Ok(5e-3));
        assert_eq!(unit_interval("0.5"), Ok(0.5));
        assert_eq!(unit_interval("0"), Ok(0.0));
        for bad in ["-0.1", "1.01", "NaN", "x"] {
            assert!(unit_interval(bad).is_err(), "{bad}");
        }
        for bad in ["0", "-1", "inf", "NaN"] {
            assert!(positive_real(bad).is_err(), "{bad}");
        }
    }

    /// 10¹¹ points of 2 floats (the issue's `data --n 100000000000`) is 800 GB: refused with
    /// both sizes in the message; a small request passes.
    #[test]
    fn an_allocation_beyond_memory_is_refused_before_it_is_tried() {
        let e = check_allocation(
            "--n 100000000000 points",
            100_000_000_000 * 2,
            4,
            "lower --n",
        )
        .unwrap_err();
        assert_eq!(e.need, 800_000_000_000);
        let msg = e.to_string();
        assert!(msg.contains("800.0 GB") && msg.contains("--n") && msg.contains("lower --n"));
        assert!(check_allocation("a little", 1000, 4, "").is_ok());
    }
}
