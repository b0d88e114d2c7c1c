//! MinAtar Asterix, a port of `minatar/environments/asterix.py` (1.0.15).
//!
//! The player moves freely on rows 1 to 8; enemies and gold spawn at the
//! left or right edge of a random free row and cross the screen. Touching
//! gold gives +1 and removes it; touching an enemy terminates the episode.
//! With ramping on, spawning and movement speed up every 100 frames.
//! Channels: player, enemy, trail, gold.

use super::{Act, Game, Grid, MinAtarRng, Outcome};

/// Frames between difficulty increases.
pub const RAMP_INTERVAL: i32 = 100;
/// Frames between spawns at the start.
pub const INIT_SPAWN_SPEED: i32 = 10;
/// Frames between entity moves at the start.
pub const INIT_MOVE_INTERVAL: i32 = 5;

const PLAYER: usize = 0;
const ENEMY: usize = 1;
const TRAIL: usize = 2;
const GOLD: usize = 3;

/// An enemy or a piece of gold. Its row is its slot index plus one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entity {
    /// Column.
    pub x: i32,
    /// Row.
    pub y: i32,
    /// Moving right (it spawned on the left).
    pub right: bool,
    /// Gold rather than an enemy.
    pub gold: bool,
}

/// Asterix's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asterix {
    ramping: bool,
    player_x: i32,
    player_y: i32,
    entities: [Option<Entity>; 8],
    spawn_speed: i32,
    spawn_timer: i32,
    move_speed: i32,
    move_timer: i32,
    ramp_timer: i32,
    ramp_index: u32,
    terminal: bool,
}

impl Asterix {
    /// The player's `(column, row)`.
    pub fn player(&self) -> (i32, i32) {
        (self.player_x, self.player_y)
    }

    /// Place the player.
    pub fn set_player(&mut self, x: i32, y: i32) {
        self.player_x = x;
        self.player_y = y;
    }

    /// The entity in each of the eight rows 1 to 8.
    pub fn entities(&self) -> &[Option<Entity>; 8] {
        &self.entities
    }

    /// Put an entity in (or clear) slot `slot` (row `slot + 1`).
    pub fn set_entity(&mut self, slot: usize, entity: Option<Entity>) {
        self.entities[slot] = entity;
    }

    /// Set the spawn and move timers (frames until the next spawn or move).
    pub fn set_timers(&mut self, spawn: i32, movement: i32) {
        self.spawn_timer = spawn;
        self.move_timer = movement;
    }

    fn spawn_entity(&mut self, rng: &mut dyn MinAtarRng) {
        let right = rng.uniform() < 1.0 / 2.0;
        let gold = rng.uniform() < 1.0 / 3.0;
        let x = if right { 0 } else { 9 };
        let free: Vec<usize> = (0..8).filter(|&i| self.entities[i].is_none()).collect();
        if free.is_empty() {
            return;
        }
        let slot = free[rng.randint(0, free.len() as i64) as usize];
        self.entities[slot] = Some(Entity {
            x,
            y: slot as i32 + 1,
            right,
            gold,
        });
    }

    /// Resolve a touch between the player and the entity in `slot`.
    fn touch(&mut self, slot: usize, reward: &mut i32) {
        if let Some(e) = self.entities[slot]
            && e.x == self.player_x
            && e.y == self.player_y
        {
            if e.gold {
                self.entities[slot] = None;
                *reward += 1;
            } else {
                self.terminal = true;
            }
        }
    }
}

impl Game for Asterix {
    const ID_V0: &'static str = "MinAtar/Asterix-v0";
    const ID_V1: &'static str = "MinAtar/Asterix-v1";
    const CHANNELS: usize = 4;
    const MINIMAL_ACTIONS: &'static [Act] = &[Act::Noop, Act::Left, Act::Up, Act::Right, Act::Down];

    fn new(ramping: bool) -> Self {
        Self {
            ramping,
            player_x: 5,
            player_y: 5,
            entities: [None; 8],
            spawn_speed: INIT_SPAWN_SPEED,
            spawn_timer: INIT_SPAWN_SPEED,
            move_speed: INIT_MOVE_INTERVAL,
            move_timer: INIT_MOVE_INTERVAL,
            ramp_timer: RAMP_INTERVAL,
            ramp_index: 0,
            terminal: false,
        }
    }

    fn reset(&mut self, _rng: &mut dyn MinAtarRng) {
        *self = Self::new(self.ramping);
    }

    fn act(&mut self, action: Act, rng: &mut dyn MinAtarRng) -> Outcome {
        let mut reward = 0;
        if self.terminal {
            return Outcome::TERMINATED;
        }
        if self.spawn_timer == 0 {
            self.spawn_entity(rng);
            self.spawn_timer = self.spawn_speed;
        }
        match action {
            Act::Left => self.player_x = (self.player_x - 1).max(0),
            Act::Right => self.player_x = (self.player_x + 1).min(9),
            Act::Up => self.player_y = (self.player_y - 1).max(1),
            Act::Down => self.player_y = (self.player_y + 1).min(8),
            _ => {}
        }

        for slot in 0..8 {
            self.touch(slot, &mut reward);
        }
        if self.move_timer == 0 {
            self.move_timer = self.move_speed;
            for slot in 0..8 {
                if let Some(e) = &mut self.entities[slot] {
                    e.x += if e.right { 1 } else { -1 };
                    if e.x < 0 || e.x > 9 {
                        self.entities[slot] = None;
                    }
                }
                self.touch(slot, &mut reward);
            }
        }

        self.spawn_timer -= 1;
        self.move_timer -= 1;

        if self.ramping && (self.spawn_speed > 1 || self.move_speed > 1) {
            if self.ramp_timer >= 0 {
                self.ramp_timer -= 1;
            } else {
                if self.move_speed > 1 && self.ramp_index % 2 == 1 {
                    self.move_speed -= 1;
                }
                if self.spawn_speed > 1 {
                    self.spawn_speed -= 1;
                }
                self.ramp_index += 1;
                self.ramp_timer = RAMP_INTERVAL;
            }
        }
        Outcome {
            reward,
            terminated: self.terminal,
            truncated: false,
        }
    }

    fn state(&self, grid: &mut Grid) {
        grid.set(self.player_y, self.player_x, PLAYER);
        for e in self.entities.iter().flatten() {
            grid.set(e.y, e.x, if e.gold { GOLD } else { ENEMY });
            let back_x = if e.right { e.x - 1 } else { e.x + 1 };
            if (0..=9).contains(&back_x) {
                grid.set(e.y, back_x, TRAIL);
            }
        }
    }

    fn difficulty_ramp(&self) -> Option<u32> {
        Some(self.ramp_index)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::minatar::StdMinAtarRng;

    fn game() -> (Asterix, StdMinAtarRng) {
        crate::minatar::started()
    }

    #[test]
    fn gold_scores_and_enemies_kill() {
        let (mut g, mut rng) = game();
        let gold = Entity {
            x: 6,
            y: 5,
            right: false,
            gold: true,
        };
        g.set_entity(4, Some(gold));
        // Stepping right onto the gold collects it.
        let out = g.act(Act::Right, &mut rng);
        assert_eq!(out.reward, 1);
        assert!(g.entities()[4].is_none());
        let enemy = Entity {
            x: 7,
            y: 5,
            right: false,
            gold: false,
        };
        g.set_entity(4, Some(enemy));
        let out = g.act(Act::Right, &mut rng);
        assert!(out.terminated && out.reward == 0);
    }

    #[test]
    fn entities_move_on_the_move_timer_and_leave_the_screen() {
        let (mut g, mut rng) = game();
        g.set_player(5, 1);
        let e = Entity {
            x: 9,
            y: 8,
            right: true,
            gold: false,
        };
        g.set_entity(7, Some(e));
        g.set_timers(50, 1);
        g.act(Act::Noop, &mut rng);
        assert_eq!(g.entities()[7], Some(e));
        g.act(Act::Noop, &mut rng);
        assert_eq!(g.entities()[7], None);
    }

    #[test]
    fn difficulty_ramps_after_the_interval() {
        let (mut g, mut rng) = game();
        g.set_player(0, 1);
        for _ in 0..=RAMP_INTERVAL {
            g.set_timers(50, 50);
            g.act(Act::Noop, &mut rng);
        }
        assert_eq!(g.difficulty_ramp(), Some(0));
        g.act(Act::Noop, &mut rng);
        assert_eq!(g.difficulty_ramp(), Some(1));
        assert_eq!(g.spawn_speed, INIT_SPAWN_SPEED - 1);
        assert_eq!(g.move_speed, INIT_MOVE_INTERVAL);
    }
}
