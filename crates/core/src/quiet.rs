//! The adaptive quiet period (`direct-line.md` §10.2a): learned per bot from the gaps between
//! the agent's activities within a turn, so single-reply turns end soon after the reply while
//! agents that pause between messages still get their turns delivered whole.
//!
//! The statistics are an optimisation, not state: they live in memory per process, bounded and
//! naturally decaying (a ring of the most recent gaps). Losing them only costs latency, never a
//! message, because anything that misses a turn is carried to the next.

use std::collections::VecDeque;

use crate::profile::Timings;

/// How many recent gaps are kept.
pub const WINDOW: usize = 256;

/// What one bot's turns have shown so far.
#[derive(Debug, Clone, Default)]
pub struct QuietLearner {
    gaps: VecDeque<u64>,
    turns: u64,
}

impl QuietLearner {
    /// Records a finished turn: its intra-turn gaps, and whether activities were carried into
    /// it from an earlier turn (a sign the quiet period was too short for this agent, recorded
    /// as a gap as long as the configured ceiling so the estimate grows).
    pub fn observe(&mut self, gaps_ms: &[u64], carried: usize, timings: &Timings) {
        self.turns += 1;
        for &gap in gaps_ms {
            self.push(gap);
        }
        if carried > 0 {
            self.push(timings.quiet_ms);
        }
    }

    fn push(&mut self, gap: u64) {
        if self.gaps.len() == WINDOW {
            self.gaps.pop_front();
        }
        self.gaps.push_back(gap);
    }

    /// Turns observed so far.
    pub fn turns(&self) -> u64 {
        self.turns
    }

    /// The quiet period to use now: the configured `quiet_ms` while adaptation is off or still
    /// warming up; then `clamp(2 × p95(recent gaps), quiet_min_ms, quiet_ms)`.
    pub fn effective_quiet_ms(&self, timings: &Timings) -> u64 {
        let ceiling = timings.quiet_ms;
        if !timings.adaptive_quiet || self.turns < timings.adaptive_warmup_turns {
            return ceiling;
        }
        let floor = timings.quiet_min_ms.min(ceiling);
        let Some(p95) = percentile(&self.gaps, 0.95) else {
            // Only single-activity turns so far: nothing suggests waiting longer than the floor.
            return floor;
        };
        p95.saturating_mul(2).clamp(floor, ceiling)
    }
}

/// The nearest-rank percentile of the values, `None` when empty.
fn percentile(values: &VecDeque<u64>, p: f64) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    let mut sorted: Vec<u64> = values.iter().copied().collect();
    sorted.sort_unstable();
    let rank = ((sorted.len() as f64) * p).ceil() as usize;
    sorted
        .get(rank.saturating_sub(1).min(sorted.len() - 1))
        .copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn timings() -> Timings {
        Timings {
            quiet_ms: 1_200,
            quiet_min_ms: 250,
            adaptive_warmup_turns: 3,
            ..Timings::default()
        }
    }

    #[test]
    fn configured_quiet_until_warmed_up_then_learned() {
        let t = timings();
        let mut l = QuietLearner::default();
        assert_eq!(l.effective_quiet_ms(&t), 1_200);
        l.observe(&[100], 0, &t);
        l.observe(&[], 0, &t);
        assert_eq!(l.effective_quiet_ms(&t), 1_200, "still warming up");
        l.observe(&[200], 0, &t);
        // p95 of [100, 200] is 200 → 400 ms.
        assert_eq!(l.effective_quiet_ms(&t), 400);
    }

    #[test]
    fn bounded_by_floor_and_ceiling_and_off_switch() {
        let t = timings();
        let mut l = QuietLearner::default();
        for _ in 0..5 {
            l.observe(&[10], 0, &t);
        }
        assert_eq!(l.effective_quiet_ms(&t), 250, "floor");
        for _ in 0..5 {
            l.observe(&[5_000], 0, &t);
        }
        assert_eq!(l.effective_quiet_ms(&t), 1_200, "ceiling");
        let off = Timings {
            adaptive_quiet: false,
            ..t
        };
        let mut l = QuietLearner::default();
        for _ in 0..5 {
            l.observe(&[10], 0, &off);
        }
        assert_eq!(l.effective_quiet_ms(&off), 1_200);
    }

    #[test]
    fn single_reply_agents_get_the_floor_and_carried_replies_raise_it() {
        let t = timings();
        let mut l = QuietLearner::default();
        for _ in 0..5 {
            l.observe(&[], 0, &t);
        }
        assert_eq!(l.effective_quiet_ms(&t), 250);
        l.observe(&[], 1, &t);
        assert_eq!(l.effective_quiet_ms(&t), 1_200);
    }

    #[test]
    fn the_window_forgets_old_gaps() {
        let t = timings();
        let mut l = QuietLearner::default();
        for _ in 0..3 {
            l.observe(&[], 0, &t);
        }
        l.observe(&vec![2_000; WINDOW], 0, &t);
        assert_eq!(l.effective_quiet_ms(&t), 1_200);
        l.observe(&vec![100; WINDOW], 0, &t);
        assert_eq!(l.effective_quiet_ms(&t), 250);
    }
}
