//! Skewed keys for the load: a Zipf distribution (the k-th most popular key is requested in
//! proportion to 1/k^s), which is what real read traffic looks like and what makes a cache's hit
//! ratio realistic. A tiny deterministic generator, so every run draws the same sequence.

/// Draws ids `1..=n` with Zipf weights.
#[derive(Debug, Clone)]
pub struct Zipf {
    cumulative: Vec<f64>,
}

impl Zipf {
    /// `n` keys, exponent `s` (about 1.0 for web traffic).
    pub fn new(n: usize, s: f64) -> Self {
        let mut total = 0.0;
        let mut cumulative = Vec::with_capacity(n);
        for k in 1..=n {
            total += 1.0 / (k as f64).powf(s);
            cumulative.push(total);
        }
        for c in &mut cumulative {
            *c /= total;
        }
        Self { cumulative }
    }

    /// The id at draw number `i` (the same `i` always gives the same id).
    pub fn id(&self, i: u64) -> i64 {
        let u = unit(i);
        let index = self.cumulative.partition_point(|c| *c < u);
        (index.min(self.cumulative.len().saturating_sub(1)) + 1) as i64
    }
}

/// A uniform number in [0, 1) from a counter (SplitMix64).
fn unit(i: u64) -> f64 {
    let mut z = i.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn low_ids_are_drawn_far_more_often_than_high_ones() {
        let zipf = Zipf::new(1000, 1.0);
        let draws: Vec<i64> = (0..10_000).map(|i| zipf.id(i)).collect();
        let first = draws.iter().filter(|id| **id == 1).count();
        let last_half = draws.iter().filter(|id| **id > 500).count();
        assert!(draws.iter().all(|id| (1..=1000).contains(id)));
        assert!(first > last_half / 2, "first={first} last_half={last_half}");
    }
}
