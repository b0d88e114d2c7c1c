//! MinAtar Breakout, a port of `minatar/environments/breakout.py` (1.0.15).
//!
//! A paddle on the bottom row bounces a ball that moves only diagonally into
//! three rows of bricks; each broken brick gives +1, and a new set of bricks
//! appears once all are gone (checked when the ball reaches the paddle row).
//! The episode terminates when the ball reaches the bottom row away from the
//! paddle. Channels: paddle, ball, trail (the ball's previous cell), brick.
//!
//! Kept from the reference: after breaking a brick, a ball that hits another
//! brick on the very next frame passes into that brick's cell without
//! breaking it (the `strike` flag).

use super::{Act, Game, Grid, MinAtarRng, Outcome};

const PADDLE: usize = 0;
const BALL: usize = 1;
const TRAIL: usize = 2;
const BRICK: usize = 3;

/// Breakout's state. Ball directions: 0 up-left, 1 up-right, 2 down-right, 3 down-left.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Breakout {
    ball_x: i32,
    ball_y: i32,
    ball_dir: usize,
    pos: i32,
    bricks: [[bool; 10]; 10],
    strike: bool,
    last_x: i32,
    last_y: i32,
    terminal: bool,
}

impl Breakout {
    /// The paddle's column.
    pub fn paddle(&self) -> i32 {
        self.pos
    }

    /// The ball's `(column, row)` and direction (0 up-left, 1 up-right,
    /// 2 down-right, 3 down-left).
    pub fn ball(&self) -> (i32, i32, usize) {
        (self.ball_x, self.ball_y, self.ball_dir)
    }

    /// Place the ball (previous cell set to the same place) and the paddle.
    pub fn set_ball(&mut self, x: i32, y: i32, dir: usize, paddle: i32) {
        self.ball_x = x;
        self.ball_y = y;
        self.last_x = x;
        self.last_y = y;
        self.ball_dir = dir;
        self.pos = paddle;
    }

    /// Whether the brick at (`row`, `col`) is present.
    pub fn brick(&self, row: usize, col: usize) -> bool {
        self.bricks[row][col]
    }

    /// Set or clear the brick at (`row`, `col`).
    pub fn set_brick(&mut self, row: usize, col: usize, present: bool) {
        self.bricks[row][col] = present;
    }

    fn fill_bricks(&mut self) {
        for row in &mut self.bricks[1..4] {
            *row = [true; 10];
        }
    }
}

impl Game for Breakout {
    const ID_V0: &'static str = "MinAtar/Breakout-v0";
    const ID_V1: &'static str = "MinAtar/Breakout-v1";
    const CHANNELS: usize = 4;
    const MINIMAL_ACTIONS: &'static [Act] = &[Act::Noop, Act::Left, Act::Right];

    fn new(_ramping: bool) -> Self {
        let mut game = Self {
            ball_x: 0,
            ball_y: 3,
            ball_dir: 2,
            pos: 4,
            bricks: [[false; 10]; 10],
            strike: false,
            last_x: 0,
            last_y: 3,
            terminal: false,
        };
        game.fill_bricks();
        game
    }

    fn reset(&mut self, rng: &mut dyn MinAtarRng) {
        self.ball_y = 3;
        let (x, dir) = [(0, 2), (9, 3)][rng.randint(0, 2) as usize];
        self.ball_x = x;
        self.ball_dir = dir;
        self.pos = 4;
        self.bricks = [[false; 10]; 10];
        self.fill_bricks();
        self.strike = false;
        self.last_x = self.ball_x;
        self.last_y = self.ball_y;
        self.terminal = false;
    }

    fn act(&mut self, action: Act, _rng: &mut dyn MinAtarRng) -> Outcome {
        let mut reward = 0;
        if self.terminal {
            return Outcome::TERMINATED;
        }
        match action {
            Act::Left => self.pos = (self.pos - 1).max(0),
            Act::Right => self.pos = (self.pos + 1).min(9),
            _ => {}
        }

        self.last_x = self.ball_x;
        self.last_y = self.ball_y;
        let (dx, dy) = [(-1, -1), (1, -1), (1, 1), (-1, 1)][self.ball_dir];
        let mut new_x = self.ball_x + dx;
        let mut new_y = self.ball_y + dy;

        let mut strike_toggle = false;
        if !(0..=9).contains(&new_x) {
            new_x = new_x.clamp(0, 9);
            self.ball_dir = [1, 0, 3, 2][self.ball_dir];
        }
        if new_y < 0 {
            new_y = 0;
            self.ball_dir = [3, 2, 1, 0][self.ball_dir];
        } else if self.bricks[new_y as usize][new_x as usize] {
            strike_toggle = true;
            if !self.strike {
                reward += 1;
                self.strike = true;
                self.bricks[new_y as usize][new_x as usize] = false;
                new_y = self.last_y;
                self.ball_dir = [3, 2, 1, 0][self.ball_dir];
            }
        } else if new_y == 9 {
            if self.bricks.iter().flatten().all(|&b| !b) {
                self.fill_bricks();
            }
            if self.ball_x == self.pos {
                self.ball_dir = [3, 2, 1, 0][self.ball_dir];
                new_y = self.last_y;
            } else if new_x == self.pos {
                self.ball_dir = [2, 3, 0, 1][self.ball_dir];
                new_y = self.last_y;
            } else {
                self.terminal = true;
            }
        }
        if !strike_toggle {
            self.strike = false;
        }
        self.ball_x = new_x;
        self.ball_y = new_y;
        Outcome {
            reward,
            terminated: self.terminal,
            truncated: false,
        }
    }

    fn state(&self, grid: &mut Grid) {
        grid.set(self.ball_y, self.ball_x, BALL);
        grid.set(9, self.pos, PADDLE);
        grid.set(self.last_y, self.last_x, TRAIL);
        for (row, bricks) in self.bricks.iter().enumerate() {
            for (col, &brick) in bricks.iter().enumerate() {
                if brick {
                    grid.set(row as i32, col as i32, BRICK);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::minatar::StdMinAtarRng;

    fn game() -> (Breakout, StdMinAtarRng) {
        crate::minatar::started()
    }

    #[test]
    fn ball_bounces_off_the_side_wall() {
        let (mut g, mut rng) = game();
        // Moving down-left at the left wall: reflected to down-right.
        g.set_ball(0, 5, 3, 4);
        let out = g.act(Act::Noop, &mut rng);
        assert_eq!(g.ball(), (0, 6, 2));
        assert_eq!(out, Outcome::default());
        g.act(Act::Noop, &mut rng);
        assert_eq!(g.ball(), (1, 7, 2));
    }

    #[test]
    fn breaking_a_brick_scores_and_reflects() {
        let (mut g, mut rng) = game();
        // Up-right from row 4 into the bottom row of bricks (rows 1 to 3).
        g.set_ball(4, 4, 1, 0);
        let out = g.act(Act::Noop, &mut rng);
        assert_eq!(out.reward, 1);
        assert!(!g.brick(3, 5));
        // The ball stays on its row, moving down-right now.
        assert_eq!(g.ball(), (5, 4, 2));
    }

    #[test]
    fn paddle_bounces_and_a_miss_terminates() {
        let (mut g, mut rng) = game();
        // Ball above the paddle, moving down-right: straight back up.
        g.set_ball(4, 8, 2, 4);
        g.act(Act::Noop, &mut rng);
        assert_eq!(g.ball(), (5, 8, 1));
        // Landing where the paddle will be: deflected sideways.
        g.set_ball(3, 8, 2, 4);
        g.act(Act::Noop, &mut rng);
        assert_eq!(g.ball(), (4, 8, 0));
        // Missing the paddle ends the episode.
        g.set_ball(0, 8, 2, 9);
        let out = g.act(Act::Noop, &mut rng);
        assert!(out.terminated);
        assert_eq!(g.ball(), (1, 9, 2));
        assert!(g.act(Act::Noop, &mut rng).terminated);
    }
}
