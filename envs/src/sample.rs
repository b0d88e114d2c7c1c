//! Uniformly random actions, for tests, benchmarks and random-policy baselines.

use rand::{Rng, RngExt};

use crate::{Action, Space};

/// A uniformly random action from `space`.
///
/// Discrete spaces give each index with equal probability; boxes sample each
/// element uniformly between its bounds, where infinite bounds are replaced
/// by a standard range (`[-1, 1]` around the finite one).
///
/// # Panics
/// If `space` is an image space, which is never an action space here.
pub fn random_action<R: Rng + ?Sized>(space: &Space, rng: &mut R) -> Action {
    match space {
        Space::Discrete { n } => Action::Discrete(rng.random_range(0..*n)),
        Space::Box { low, high, .. } => Action::Continuous(
            low.iter()
                .zip(high)
                .map(|(&lo, &hi)| {
                    let (lo, hi) = match (lo.is_finite(), hi.is_finite()) {
                        (true, true) => (lo, hi),
                        (true, false) => (lo, lo + 2.0),
                        (false, true) => (hi - 2.0, hi),
                        (false, false) => (-1.0, 1.0),
                    };
                    if lo < hi {
                        rng.random_range(lo..=hi)
                    } else {
                        lo
                    }
                })
                .collect(),
        ),
        Space::Image { .. } => panic!("random_action: an image space cannot be an action space"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn samples_lie_in_the_space() {
        let mut rng = StdRng::seed_from_u64(0);
        for _ in 0..100 {
            match random_action(&Space::Discrete { n: 3 }, &mut rng) {
                Action::Discrete(a) => assert!(a < 3),
                other => panic!("{other:?}"),
            }
            let space = Space::Box {
                shape: vec![3],
                low: vec![-2.0, f32::NEG_INFINITY, 1.0],
                high: vec![2.0, 0.0, 1.0],
            };
            match random_action(&space, &mut rng) {
                Action::Continuous(v) => {
                    assert!((-2.0..=2.0).contains(&v[0]));
                    assert!((-2.0..=0.0).contains(&v[1]));
                    assert_eq!(v[2], 1.0);
                }
                other => panic!("{other:?}"),
            }
        }
    }
}
