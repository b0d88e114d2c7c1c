//! Sequential Halving (Karnin et al. 2013) as Gumbel MuZero uses it at the
//! root: the simulation budget is split into rounds; each round visits
//! every still-considered action equally, then keeps the better half.
//!
//! Rather than tracking rounds, the schedule is a table: for `m` considered
//! actions and simulation index `s`, the visit count an action must have to
//! be eligible for simulation `s`. Among eligible actions the one with the
//! highest `g + logits + sigma(q)` is chosen.

/// For each simulation, the visit count of the actions it may visit when
/// `considered` actions are in play (`[simulations]`).
pub fn considered_visits(considered: usize, simulations: usize) -> Vec<u32> {
    if considered <= 1 {
        return (0..simulations as u32).collect();
    }
    let log2max = (considered as f64).log2().ceil() as usize;
    let mut sequence = Vec::with_capacity(simulations);
    let mut visits = vec![0u32; considered];
    let mut in_play = considered;
    while sequence.len() < simulations {
        let extra = (simulations / (log2max * in_play)).max(1);
        for _ in 0..extra {
            sequence.extend_from_slice(&visits[..in_play]);
            for v in &mut visits[..in_play] {
                *v += 1;
            }
        }
        in_play = (in_play / 2).max(2);
    }
    sequence.truncate(simulations);
    sequence
}

/// The table of [`considered_visits`] for `0..=max_considered` actions.
pub fn considered_visits_table(max_considered: usize, simulations: usize) -> Vec<Vec<u32>> {
    (0..=max_considered)
        .map(|m| considered_visits(m, simulations))
        .collect()
}

/// The score an argmax over actions uses: `g + logits - max(logits) +
/// sigma(q)`, floored at -1e9, and -inf for actions whose visit count is
/// not the one the schedule asks for.
pub fn score_considered(
    considered_visit: u32,
    gumbel: &[f32],
    logits: &[f32],
    transformed_q: &[f32],
    visits: &[u32],
    out: &mut [f32],
) {
    let max_logit = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for a in 0..out.len() {
        out[a] = if visits[a] == considered_visit {
            (gumbel[a] + logits[a] - max_logit + transformed_q[a]).max(-1e9)
        } else {
            f32::NEG_INFINITY
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedule_by_hand() {
        // 4 actions, 8 simulations, log2(4) = 2 rounds: the first round gives
        // each of the 4 actions 8 / (2 * 4) = 1 visit, the second gives the
        // best 2 actions 8 / (2 * 2) = 2 visits each.
        assert_eq!(considered_visits(4, 8), vec![0, 0, 0, 0, 1, 1, 2, 2]);
        // One considered action is simply visited again and again.
        assert_eq!(considered_visits(1, 3), vec![0, 1, 2]);
        // Two actions share the budget evenly.
        assert_eq!(considered_visits(2, 6), vec![0, 0, 1, 1, 2, 2]);
        let table = considered_visits_table(3, 4);
        assert_eq!(table.len(), 4);
        assert!(table.iter().all(|row| row.len() == 4));
    }

    #[test]
    fn only_scheduled_actions_score() {
        let mut out = [0.0; 3];
        score_considered(
            1,
            &[0.0; 3],
            &[1.0, 2.0, 0.0],
            &[0.0; 3],
            &[1, 0, 1],
            &mut out,
        );
        assert_eq!(out[1], f32::NEG_INFINITY);
        assert_eq!(out[0], -1.0);
        assert_eq!(out[2], -2.0);
    }
}
