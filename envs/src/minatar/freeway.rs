//! MinAtar Freeway, a port of `minatar/environments/freeway.py` (1.0.15).
//!
//! A chicken starts on the bottom row and must cross eight lanes of cars
//! to the top; reaching the top gives +1, sends the chicken back to the
//! bottom and gives every car a new random speed and direction. A car
//! touching the chicken (which always stands in column 4) sends it back to
//! the bottom. The chicken can move only every third frame. Channels:
//! chicken, car, and a trail behind each car whose channel (2 to 6) gives
//! the car's speed.
//!
//! Episode end: the reference ends the game after 2500 frames (on the
//! 2501st `act`). The timer is not in the observation and no game event
//! causes the end, so we report it as `truncated` (Gymnasium's meaning of a
//! time limit, after which bootstrapping is valid), never `terminated`;
//! minatar's Gymnasium wrapper reports it as `terminated`.

use super::{Act, Game, Grid, MinAtarRng, Outcome};

/// Frames between two moves of the chicken.
pub const PLAYER_SPEED: i32 = 3;
/// Frames in an episode (the timer runs out on the frame after).
pub const TIME_LIMIT: i32 = 2500;

const CHICKEN: usize = 0;
const CAR: usize = 1;
/// The trail channel of a car of speed 1; speed `s` uses `SPEED1 + s - 1`.
const SPEED1: usize = 2;

/// One car: `[x, lane row, frames until it moves, signed speed]`, as in
/// the reference. A speed of `s` moves the car one cell every `|s| + 1`
/// frames, rightwards when positive.
type Car = [i32; 4];

/// Freeway's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Freeway {
    cars: [Car; 8],
    pos: i32,
    move_timer: i32,
    terminate_timer: i32,
    terminal: bool,
}

impl Freeway {
    /// The chicken's row (9 at the bottom, 0 at the top).
    pub fn chicken(&self) -> i32 {
        self.pos
    }

    /// Put the chicken on `row` and set its move timer.
    pub fn set_chicken(&mut self, row: i32, move_timer: i32) {
        self.pos = row;
        self.move_timer = move_timer;
    }

    /// The cars, as `[x, row, frames until it moves, signed speed]`.
    pub fn cars(&self) -> &[Car; 8] {
        &self.cars
    }

    /// Overwrite car `i`.
    pub fn set_car(&mut self, i: usize, car: Car) {
        self.cars[i] = car;
    }

    /// Frames left before the timer runs out.
    pub fn time_left(&self) -> i32 {
        self.terminate_timer
    }

    fn randomize_cars(&mut self, rng: &mut dyn MinAtarRng, initialize: bool) {
        let speeds = rng.randint_n(1, 6, 8);
        let directions = rng.uniform_n(8);
        for (i, car) in self.cars.iter_mut().enumerate() {
            // numpy.sign(rand - 0.5): 0 exactly at 0.5.
            let d = directions[i] - 0.5;
            let sign = if d > 0.0 {
                1
            } else if d < 0.0 {
                -1
            } else {
                0
            };
            let speed = speeds[i] as i32 * sign;
            if initialize {
                *car = [0, i as i32 + 1, speed.abs(), speed];
            } else {
                car[2] = speed.abs();
                car[3] = speed;
            }
        }
    }
}

impl Game for Freeway {
    const ID_V0: &'static str = "MinAtar/Freeway-v0";
    const ID_V1: &'static str = "MinAtar/Freeway-v1";
    const CHANNELS: usize = 7;
    const MINIMAL_ACTIONS: &'static [Act] = &[Act::Noop, Act::Up, Act::Down];

    fn new(_ramping: bool) -> Self {
        Self {
            cars: std::array::from_fn(|i| [0, i as i32 + 1, 1, 1]),
            pos: 9,
            move_timer: PLAYER_SPEED,
            terminate_timer: TIME_LIMIT,
            terminal: false,
        }
    }

    fn reset(&mut self, rng: &mut dyn MinAtarRng) {
        self.randomize_cars(rng, true);
        self.pos = 9;
        self.move_timer = PLAYER_SPEED;
        self.terminate_timer = TIME_LIMIT;
        self.terminal = false;
    }

    fn act(&mut self, action: Act, rng: &mut dyn MinAtarRng) -> Outcome {
        let mut reward = 0;
        if self.terminal {
            return Outcome {
                reward,
                terminated: false,
                truncated: true,
            };
        }
        if action == Act::Up && self.move_timer == 0 {
            self.move_timer = PLAYER_SPEED;
            self.pos = (self.pos - 1).max(0);
        } else if action == Act::Down && self.move_timer == 0 {
            self.move_timer = PLAYER_SPEED;
            self.pos = (self.pos + 1).min(9);
        }

        // Reaching the top.
        if self.pos == 0 {
            reward += 1;
            self.randomize_cars(rng, false);
            self.pos = 9;
        }

        for car in &mut self.cars {
            if car[0] == 4 && car[1] == self.pos {
                self.pos = 9;
            }
            if car[2] == 0 {
                car[2] = car[3].abs();
                car[0] += if car[3] > 0 { 1 } else { -1 };
                if car[0] < 0 {
                    car[0] = 9;
                } else if car[0] > 9 {
                    car[0] = 0;
                }
                if car[0] == 4 && car[1] == self.pos {
                    self.pos = 9;
                }
            } else {
                car[2] -= 1;
            }
        }

        if self.move_timer > 0 {
            self.move_timer -= 1;
        }
        self.terminate_timer -= 1;
        if self.terminate_timer < 0 {
            self.terminal = true;
        }
        Outcome {
            reward,
            terminated: false,
            truncated: self.terminal,
        }
    }

    fn state(&self, grid: &mut Grid) {
        grid.set(self.pos, 4, CHICKEN);
        for car in &self.cars {
            grid.set(car[1], car[0], CAR);
            let mut back_x = if car[3] > 0 { car[0] - 1 } else { car[0] + 1 };
            if back_x < 0 {
                back_x = 9;
            } else if back_x > 9 {
                back_x = 0;
            }
            // A speed of 0 (a direction draw of exactly 0.5) has no trail
            // channel; the reference would fail here, we draw no trail.
            let speed = car[3].unsigned_abs() as usize;
            if (1..=5).contains(&speed) {
                grid.set(car[1], back_x, SPEED1 + speed - 1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::minatar::StdMinAtarRng;

    fn game() -> (Freeway, StdMinAtarRng) {
        let (mut game, rng) = crate::minatar::started::<Freeway>();
        // Park every car far from the chicken's column, slowly.
        for i in 0..8 {
            game.set_car(i, [0, i as i32 + 1, 5, 5]);
        }
        (game, rng)
    }

    #[test]
    fn reaching_the_top_scores_and_resets_the_chicken() {
        let (mut g, mut rng) = game();
        g.set_chicken(1, 0);
        let out = g.act(Act::Up, &mut rng);
        assert_eq!(out.reward, 1);
        assert_eq!(g.chicken(), 9);
        // Cars keep their places but get new speeds and directions.
        assert!(
            g.cars()
                .iter()
                .enumerate()
                .all(|(i, c)| c[1] == i as i32 + 1)
        );
        assert!(g.cars().iter().all(|c| (1..=5).contains(&c[3].abs())));
    }

    #[test]
    fn chicken_moves_every_third_frame_and_cars_knock_it_back() {
        let (mut g, mut rng) = game();
        g.set_chicken(9, 0);
        g.act(Act::Up, &mut rng);
        assert_eq!(g.chicken(), 8);
        // The move timer (3, then 2 after the frame) blocks the next two moves.
        g.act(Act::Up, &mut rng);
        g.act(Act::Up, &mut rng);
        assert_eq!(g.chicken(), 8);
        g.act(Act::Up, &mut rng);
        assert_eq!(g.chicken(), 7);
        // A car in the chicken's lane about to move into column 4.
        g.set_car(5, [3, 6, 0, 1]);
        g.set_chicken(6, 3);
        g.act(Act::Noop, &mut rng);
        assert_eq!(g.chicken(), 9);
    }

    #[test]
    fn the_timer_truncates_after_2500_frames() {
        let (mut g, mut rng) = game();
        for t in 1..=TIME_LIMIT + 1 {
            let out = g.act(Act::Noop, &mut rng);
            assert!(!out.terminated);
            assert_eq!(out.truncated, t == TIME_LIMIT + 1, "frame {t}");
        }
    }
}
