//! MinAtar Space Invaders, a port of `minatar/environments/space_invaders.py` (1.0.15).
//!
//! A cannon on the bottom row shoots at a block of aliens that marches
//! sideways, stepping down a row at each edge, and speeds up as aliens die.
//! Each alien killed gives +1; when all are dead a new wave appears (with
//! ramping on, each new wave moves faster, down to 6 frames a move). The
//! alien closest to the cannon's column shoots every 10 frames. The episode
//! terminates when an enemy bullet or an alien reaches the cannon, or the
//! aliens reach the bottom row at an edge. Channels: cannon, alien,
//! alien moving left, alien moving right, friendly bullet, enemy bullet.
//!
//! Kept from the reference: grids move with `numpy.roll`, so when the
//! block steps down from the bottom row (the step that terminates) its last
//! row wraps to the top row. The game makes no random draws of its own.

use super::{Act, Game, Grid, MinAtarRng, Outcome};

/// Frames between two shots of the cannon.
pub const SHOT_COOL_DOWN: i32 = 5;
/// Frames between alien moves at the start.
pub const ENEMY_MOVE_INTERVAL: i32 = 12;
/// Frames between alien shots.
pub const ENEMY_SHOT_INTERVAL: i32 = 10;

const CANNON: usize = 0;
const ALIEN: usize = 1;
const ALIEN_LEFT: usize = 2;
const ALIEN_RIGHT: usize = 3;
const FRIENDLY_BULLET: usize = 4;
const ENEMY_BULLET: usize = 5;

type Map = [[bool; 10]; 10];

/// Space Invaders' state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpaceInvaders {
    ramping: bool,
    pos: i32,
    f_bullets: Map,
    e_bullets: Map,
    aliens: Map,
    alien_dir: i32,
    enemy_move_interval: i32,
    alien_move_timer: i32,
    alien_shot_timer: i32,
    ramp_index: u32,
    shot_timer: i32,
    terminal: bool,
}

fn count(map: &Map) -> i32 {
    map.iter().flatten().filter(|&&c| c).count() as i32
}

fn column_has(map: &Map, col: usize) -> bool {
    map.iter().any(|row| row[col])
}

fn fresh_wave() -> Map {
    let mut map = [[false; 10]; 10];
    for row in &mut map[0..4] {
        row[2..8].fill(true);
    }
    map
}

impl SpaceInvaders {
    /// The cannon's column.
    pub fn cannon(&self) -> i32 {
        self.pos
    }

    /// The alien grid (`[row][column]`).
    pub fn aliens(&self) -> &Map {
        &self.aliens
    }

    /// Overwrite the alien grid.
    pub fn set_aliens(&mut self, aliens: Map) {
        self.aliens = aliens;
    }

    /// The friendly bullets (`[row][column]`).
    pub fn friendly_bullets(&self) -> &Map {
        &self.f_bullets
    }

    /// Set the alien move and shot timers.
    pub fn set_alien_timers(&mut self, movement: i32, shot: i32) {
        self.alien_move_timer = movement;
        self.alien_shot_timer = shot;
    }

    /// The row and column of the lowest alien in the occupied column
    /// closest to `pos` (the left one on a tie), if any alien is left.
    fn nearest_alien(&self, pos: i32) -> Option<(usize, usize)> {
        let mut order: Vec<i32> = (0..10).collect();
        order.sort_by_key(|&x| (x - pos).abs());
        order
            .into_iter()
            .map(|c| c as usize)
            .find_map(|c| (0..10).rev().find(|&r| self.aliens[r][c]).map(|r| (r, c)))
    }
}

impl Game for SpaceInvaders {
    const ID_V0: &'static str = "MinAtar/SpaceInvaders-v0";
    const ID_V1: &'static str = "MinAtar/SpaceInvaders-v1";
    const CHANNELS: usize = 6;
    const MINIMAL_ACTIONS: &'static [Act] = &[Act::Noop, Act::Left, Act::Right, Act::Fire];

    fn new(ramping: bool) -> Self {
        Self {
            ramping,
            pos: 5,
            f_bullets: [[false; 10]; 10],
            e_bullets: [[false; 10]; 10],
            aliens: fresh_wave(),
            alien_dir: -1,
            enemy_move_interval: ENEMY_MOVE_INTERVAL,
            alien_move_timer: ENEMY_MOVE_INTERVAL,
            alien_shot_timer: ENEMY_SHOT_INTERVAL,
            ramp_index: 0,
            shot_timer: 0,
            terminal: false,
        }
    }

    fn reset(&mut self, _rng: &mut dyn MinAtarRng) {
        *self = Self::new(self.ramping);
    }

    fn act(&mut self, action: Act, _rng: &mut dyn MinAtarRng) -> Outcome {
        let mut reward = 0;
        if self.terminal {
            return Outcome::TERMINATED;
        }
        let pos = |s: &Self| s.pos as usize;
        if action == Act::Fire && self.shot_timer == 0 {
            self.f_bullets[9][pos(self)] = true;
            self.shot_timer = SHOT_COOL_DOWN;
        } else if action == Act::Left {
            self.pos = (self.pos - 1).max(0);
        } else if action == Act::Right {
            self.pos = (self.pos + 1).min(9);
        }

        // Friendly bullets up one row (the top row leaves), enemy bullets down.
        self.f_bullets.rotate_left(1);
        self.f_bullets[9] = [false; 10];
        self.e_bullets.rotate_right(1);
        self.e_bullets[0] = [false; 10];
        if self.e_bullets[9][pos(self)] {
            self.terminal = true;
        }

        if self.aliens[9][pos(self)] {
            self.terminal = true;
        }
        if self.alien_move_timer == 0 {
            self.alien_move_timer = count(&self.aliens).min(self.enemy_move_interval);
            if (column_has(&self.aliens, 0) && self.alien_dir < 0)
                || (column_has(&self.aliens, 9) && self.alien_dir > 0)
            {
                self.alien_dir = -self.alien_dir;
                if self.aliens[9].iter().any(|&c| c) {
                    self.terminal = true;
                }
                self.aliens.rotate_right(1);
            } else {
                for row in &mut self.aliens {
                    if self.alien_dir > 0 {
                        row.rotate_right(1);
                    } else {
                        row.rotate_left(1);
                    }
                }
            }
            if self.aliens[9][pos(self)] {
                self.terminal = true;
            }
        }
        if self.alien_shot_timer == 0 {
            self.alien_shot_timer = ENEMY_SHOT_INTERVAL;
            // There is always an alien here (a cleared wave is replaced at
            // the end of the frame that cleared it).
            if let Some((row, col)) = self.nearest_alien(self.pos) {
                self.e_bullets[row][col] = true;
            }
        }

        for (aliens, bullets) in self.aliens.iter_mut().zip(&mut self.f_bullets) {
            for (alien, bullet) in aliens.iter_mut().zip(bullets.iter_mut()) {
                if *alien && *bullet {
                    reward += 1;
                    *alien = false;
                    *bullet = false;
                }
            }
        }

        if self.shot_timer > 0 {
            self.shot_timer -= 1;
        }
        self.alien_move_timer -= 1;
        self.alien_shot_timer -= 1;
        if count(&self.aliens) == 0 {
            if self.enemy_move_interval > 6 && self.ramping {
                self.enemy_move_interval -= 1;
                self.ramp_index += 1;
            }
            self.aliens = fresh_wave();
        }
        Outcome {
            reward,
            terminated: self.terminal,
            truncated: false,
        }
    }

    fn state(&self, grid: &mut Grid) {
        grid.set(9, self.pos, CANNON);
        let direction = if self.alien_dir < 0 {
            ALIEN_LEFT
        } else {
            ALIEN_RIGHT
        };
        for r in 0..10 {
            for c in 0..10 {
                let (ri, ci) = (r as i32, c as i32);
                if self.aliens[r][c] {
                    grid.set(ri, ci, ALIEN);
                    grid.set(ri, ci, direction);
                }
                if self.f_bullets[r][c] {
                    grid.set(ri, ci, FRIENDLY_BULLET);
                }
                if self.e_bullets[r][c] {
                    grid.set(ri, ci, ENEMY_BULLET);
                }
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

    fn game() -> (SpaceInvaders, StdMinAtarRng) {
        crate::minatar::started()
    }

    #[test]
    fn a_bullet_kills_the_alien_it_reaches() {
        let (mut g, mut rng) = game();
        let mut aliens = [[false; 10]; 10];
        aliens[7][5] = true;
        aliens[0][0] = true;
        g.set_aliens(aliens);
        g.set_alien_timers(50, 50);
        // Fired from row 9, the bullet is on row 8 after this frame, row 7 after the next.
        assert_eq!(g.act(Act::Fire, &mut rng).reward, 0);
        assert!(g.friendly_bullets()[8][5]);
        let out = g.act(Act::Noop, &mut rng);
        assert_eq!(out.reward, 1);
        assert!(!g.aliens()[7][5] && !g.friendly_bullets()[7][5]);
    }

    #[test]
    fn the_block_steps_down_and_turns_at_the_edge() {
        let (mut g, mut rng) = game();
        let mut aliens = [[false; 10]; 10];
        aliens[2][0] = true;
        aliens[2][1] = true;
        g.set_aliens(aliens);
        g.set_alien_timers(0, 50);
        g.act(Act::Noop, &mut rng);
        assert!(g.aliens()[3][0] && g.aliens()[3][1]);
        // Two aliens: the next move comes after min(2, 12) frames, rightwards.
        g.act(Act::Noop, &mut rng);
        g.act(Act::Noop, &mut rng);
        assert!(g.aliens()[3][1] && g.aliens()[3][2]);
    }

    #[test]
    fn clearing_a_wave_brings_a_faster_one() {
        let (mut g, mut rng) = game();
        let mut aliens = [[false; 10]; 10];
        aliens[8][5] = true;
        g.set_aliens(aliens);
        g.set_alien_timers(50, 50);
        let out = g.act(Act::Fire, &mut rng);
        assert_eq!(out.reward, 1);
        assert_eq!(g.aliens(), &fresh_wave());
        assert_eq!(g.difficulty_ramp(), Some(1));
        assert_eq!(g.enemy_move_interval, ENEMY_MOVE_INTERVAL - 1);
    }
}
