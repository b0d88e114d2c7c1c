//! MinAtar Seaquest, a port of `minatar/environments/seaquest.py` (1.0.15).
//!
//! A submarine shoots enemy fish and submarines (+1 each) and rescues
//! divers. It uses oxygen below the surface; surfacing with at least one
//! diver refills the oxygen and costs one diver, surfacing with six gives a
//! bonus of up to +10 for the oxygen left, and surfacing with none, running
//! out of oxygen or touching an enemy or an enemy bullet terminates the
//! episode. With ramping on, each surfacing speeds enemies up. Channels:
//! sub front, sub back, friendly bullet, trail, enemy bullet, enemy fish,
//! enemy sub, oxygen gauge, diver gauge, diver.
//!
//! Kept from the reference, quirks included:
//!
//! * Surfacing with six divers sets the count to 0 and then takes one away
//!   as any surfacing does, leaving -1: the gauge shows none, the next diver
//!   brings the count to 0, and surfacing at -1 or below neither terminates
//!   nor pays (it only lowers the count again).
//! * An enemy sub that leaves the screen or is shot during its move still
//!   counts down its shot timer that frame, and may fire a bullet from
//!   where it was removed.
//! * The reference keeps entities in Python lists of lists, iterates them
//!   in reverse while removing from them, and removes by value (the first
//!   equal entry). We keep that exactly: entities live in an arena, lists
//!   hold arena indices, and removal finds the first entry with equal
//!   fields, so even two identical entities behave as in Python.

use super::{Act, Game, Grid, MinAtarRng, Outcome};

/// Oxygen of a full tank (Seaquest ramps its difficulty on surfacing, not on a timer).
pub const MAX_OXYGEN: i32 = 200;
/// Frames between enemy spawns at the start.
pub const INIT_SPAWN_SPEED: i32 = 20;
/// Frames between diver spawns.
pub const DIVER_SPAWN_SPEED: i32 = 30;
/// Frames between enemy moves at the start.
pub const INIT_MOVE_INTERVAL: i32 = 5;
/// Frames between two shots of the submarine.
pub const SHOT_COOL_DOWN: i32 = 5;
/// Frames between shots of an enemy sub.
pub const ENEMY_SHOT_INTERVAL: i32 = 10;
/// Frames between diver moves.
pub const DIVER_MOVE_INTERVAL: i32 = 5;

const SUB_FRONT: usize = 0;
const SUB_BACK: usize = 1;
const FRIENDLY_BULLET: usize = 2;
const TRAIL: usize = 3;
const ENEMY_BULLET: usize = 4;
const ENEMY_FISH: usize = 5;
const ENEMY_SUB: usize = 6;
const OXYGEN_GAUGE: usize = 7;
const DIVER_GAUGE: usize = 8;
const DIVER: usize = 9;

/// One entity, as the reference's list: `[x, y, moving right, ...]`, then
/// for fish, subs and divers the move timer, for subs the shot timer.
/// Unused fields stay 0, so equality matches Python's list equality within
/// one kind.
pub type Entity = [i32; 5];

const X: usize = 0;
const Y: usize = 1;
const RIGHT: usize = 2;
const MOVE: usize = 3;
const SHOT: usize = 4;

/// Seaquest's state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seaquest {
    ramping: bool,
    oxygen: i32,
    diver_count: i32,
    sub_x: i32,
    sub_y: i32,
    /// Facing right.
    sub_or: bool,
    /// Every entity alive this frame (and, within a frame, removed ones the
    /// reference still holds a reference to).
    arena: Vec<Entity>,
    f_bullets: Vec<usize>,
    e_bullets: Vec<usize>,
    e_fish: Vec<usize>,
    e_subs: Vec<usize>,
    divers: Vec<usize>,
    e_spawn_speed: i32,
    e_spawn_timer: i32,
    d_spawn_timer: i32,
    move_speed: i32,
    ramp_index: u32,
    shot_timer: i32,
    surface: bool,
    terminal: bool,
}

/// Python's `list.remove(value)`: drop the first entry whose fields equal
/// those of entity `id` (nothing if none does; Python would raise).
fn remove_value(arena: &[Entity], list: &mut Vec<usize>, id: usize) {
    let value = arena[id];
    if let Some(j) = list.iter().position(|&k| arena[k] == value) {
        list.remove(j);
    }
}

/// Python's `reversed(list)` over a list that may shrink while iterated:
/// the next index, or `None` once it falls outside the list.
fn next_reversed(list: &[usize], index: &mut isize) -> Option<usize> {
    if *index >= 0 && (*index as usize) < list.len() {
        let id = list[*index as usize];
        *index -= 1;
        Some(id)
    } else {
        *index = -1;
        None
    }
}

fn start_reversed(list: &[usize]) -> isize {
    list.len() as isize - 1
}

fn step_x(e: &mut Entity) {
    e[X] += if e[RIGHT] != 0 { 1 } else { -1 };
}

fn off_screen(e: &Entity) -> bool {
    e[X] < 0 || e[X] > 9
}

impl Seaquest {
    /// The submarine's `(column, row)` and whether it faces right.
    pub fn sub(&self) -> (i32, i32, bool) {
        (self.sub_x, self.sub_y, self.sub_or)
    }

    /// Place the submarine. `surfaced` is whether it has already surfaced
    /// (a rise to row 0 counts as surfacing only when it has not).
    pub fn set_sub(&mut self, x: i32, y: i32, facing_right: bool, surfaced: bool) {
        self.sub_x = x;
        self.sub_y = y;
        self.sub_or = facing_right;
        self.surface = surfaced;
    }

    /// Divers carried (-1 and below after the six-diver quirk).
    pub fn diver_count(&self) -> i32 {
        self.diver_count
    }

    /// Set the number of divers carried.
    pub fn set_diver_count(&mut self, count: i32) {
        self.diver_count = count;
    }

    /// Oxygen left.
    pub fn oxygen(&self) -> i32 {
        self.oxygen
    }

    /// Set the oxygen left.
    pub fn set_oxygen(&mut self, oxygen: i32) {
        self.oxygen = oxygen;
    }

    /// Set the enemy and diver spawn timers.
    pub fn set_spawn_timers(&mut self, enemy: i32, diver: i32) {
        self.e_spawn_timer = enemy;
        self.d_spawn_timer = diver;
    }

    /// Add an enemy fish `[x, y, right, move timer, 0]`.
    pub fn add_fish(&mut self, fish: Entity) {
        self.arena.push(fish);
        self.e_fish.push(self.arena.len() - 1);
    }

    /// Add a diver `[x, y, right, move timer, 0]`.
    pub fn add_diver(&mut self, diver: Entity) {
        self.arena.push(diver);
        self.divers.push(self.arena.len() - 1);
    }

    /// The enemy fish.
    pub fn fish(&self) -> Vec<Entity> {
        self.e_fish.iter().map(|&i| self.arena[i]).collect()
    }

    /// The divers in the water.
    pub fn divers(&self) -> Vec<Entity> {
        self.divers.iter().map(|&i| self.arena[i]).collect()
    }

    fn at_sub(&self, id: usize) -> bool {
        self.arena[id][X] == self.sub_x && self.arena[id][Y] == self.sub_y
    }

    fn same_cell(&self, a: usize, b: usize) -> bool {
        self.arena[a][..2] == self.arena[b][..2]
    }

    fn push(&mut self, entity: Entity) -> usize {
        self.arena.push(entity);
        self.arena.len() - 1
    }

    /// Drop removed entities from the arena, keeping list order.
    fn compact(&mut self) {
        let old = std::mem::take(&mut self.arena);
        for list in [
            &mut self.f_bullets,
            &mut self.e_bullets,
            &mut self.e_fish,
            &mut self.e_subs,
            &mut self.divers,
        ] {
            for id in list.iter_mut() {
                self.arena.push(old[*id]);
                *id = self.arena.len() - 1;
            }
        }
    }

    fn spawn_enemy(&mut self, rng: &mut dyn MinAtarRng) {
        let right = rng.uniform() < 1.0 / 2.0;
        let is_sub = rng.uniform() < 1.0 / 3.0;
        let x = if right { 0 } else { 9 };
        let y = rng.randint(1, 9) as i32;
        // No spawning into a row where something moves the other way.
        let clash = self
            .e_subs
            .iter()
            .chain(&self.e_fish)
            .any(|&z| self.arena[z][Y] == y && (self.arena[z][RIGHT] != 0) != right);
        if clash {
            return;
        }
        if is_sub {
            let id = self.push([x, y, right as i32, self.move_speed, ENEMY_SHOT_INTERVAL]);
            self.e_subs.push(id);
        } else {
            let id = self.push([x, y, right as i32, self.move_speed, 0]);
            self.e_fish.push(id);
        }
    }

    fn spawn_diver(&mut self, rng: &mut dyn MinAtarRng) {
        let right = rng.uniform() < 1.0 / 2.0;
        let x = if right { 0 } else { 9 };
        let y = rng.randint(1, 9) as i32;
        let id = self.push([x, y, right as i32, DIVER_MOVE_INTERVAL, 0]);
        self.divers.push(id);
    }

    /// Reaching the surface with divers: refill, pay a bonus for six, ramp.
    fn surface(&mut self) -> i32 {
        self.surface = true;
        let reward = if self.diver_count == 6 {
            self.diver_count = 0;
            (self.oxygen * 10).div_euclid(MAX_OXYGEN)
        } else {
            0
        };
        self.oxygen = MAX_OXYGEN;
        self.diver_count -= 1;
        if self.ramping && (self.e_spawn_speed > 1 || self.move_speed > 2) {
            if self.move_speed > 2 && self.ramp_index % 2 == 1 {
                self.move_speed -= 1;
            }
            if self.e_spawn_speed > 1 {
                self.e_spawn_speed -= 1;
            }
            self.ramp_index += 1;
        }
        reward
    }

    /// Move a fish or sub `id` on its timer; returns the reward (a friendly
    /// bullet it moved onto). Shared by the fish and sub loops.
    fn move_enemy(&mut self, id: usize, is_sub: bool) -> i32 {
        if self.arena[id][MOVE] != 0 {
            self.arena[id][MOVE] -= 1;
            return 0;
        }
        self.arena[id][MOVE] = self.move_speed;
        step_x(&mut self.arena[id]);
        let list = if is_sub {
            &mut self.e_subs
        } else {
            &mut self.e_fish
        };
        if off_screen(&self.arena[id]) {
            remove_value(&self.arena, list, id);
        } else if self.at_sub(id) {
            self.terminal = true;
        } else if let Some(&bullet) = self.f_bullets.iter().find(|&&b| self.same_cell(id, b)) {
            let list = if is_sub {
                &mut self.e_subs
            } else {
                &mut self.e_fish
            };
            remove_value(&self.arena, list, id);
            remove_value(&self.arena, &mut self.f_bullets, bullet);
            return 1;
        }
        0
    }
}

impl Game for Seaquest {
    const ID_V0: &'static str = "MinAtar/Seaquest-v0";
    const ID_V1: &'static str = "MinAtar/Seaquest-v1";
    const CHANNELS: usize = 10;
    const MINIMAL_ACTIONS: &'static [Act] = &Act::ALL;

    fn new(ramping: bool) -> Self {
        Self {
            ramping,
            oxygen: MAX_OXYGEN,
            diver_count: 0,
            sub_x: 5,
            sub_y: 0,
            sub_or: false,
            arena: Vec::new(),
            f_bullets: Vec::new(),
            e_bullets: Vec::new(),
            e_fish: Vec::new(),
            e_subs: Vec::new(),
            divers: Vec::new(),
            e_spawn_speed: INIT_SPAWN_SPEED,
            e_spawn_timer: INIT_SPAWN_SPEED,
            d_spawn_timer: DIVER_SPAWN_SPEED,
            move_speed: INIT_MOVE_INTERVAL,
            ramp_index: 0,
            shot_timer: 0,
            surface: true,
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
        if self.e_spawn_timer == 0 {
            self.spawn_enemy(rng);
            self.e_spawn_timer = self.e_spawn_speed;
        }
        if self.d_spawn_timer == 0 {
            self.spawn_diver(rng);
            self.d_spawn_timer = DIVER_SPAWN_SPEED;
        }

        match action {
            Act::Fire if self.shot_timer == 0 => {
                let id = self.push([self.sub_x, self.sub_y, self.sub_or as i32, 0, 0]);
                self.f_bullets.push(id);
                self.shot_timer = SHOT_COOL_DOWN;
            }
            Act::Left => {
                self.sub_x = (self.sub_x - 1).max(0);
                self.sub_or = false;
            }
            Act::Right => {
                self.sub_x = (self.sub_x + 1).min(9);
                self.sub_or = true;
            }
            Act::Up => self.sub_y = (self.sub_y - 1).max(0),
            Act::Down => self.sub_y = (self.sub_y + 1).min(8),
            _ => {}
        }

        // Friendly bullets.
        let mut index = start_reversed(&self.f_bullets);
        while let Some(b) = next_reversed(&self.f_bullets, &mut index) {
            step_x(&mut self.arena[b]);
            if off_screen(&self.arena[b]) {
                remove_value(&self.arena, &mut self.f_bullets, b);
                continue;
            }
            if let Some(&fish) = self.e_fish.iter().find(|&&f| self.same_cell(b, f)) {
                remove_value(&self.arena, &mut self.e_fish, fish);
                remove_value(&self.arena, &mut self.f_bullets, b);
                reward += 1;
            } else if let Some(&sub) = self.e_subs.iter().find(|&&s| self.same_cell(b, s)) {
                remove_value(&self.arena, &mut self.e_subs, sub);
                remove_value(&self.arena, &mut self.f_bullets, b);
                reward += 1;
            }
        }

        // Divers.
        let mut index = start_reversed(&self.divers);
        while let Some(d) = next_reversed(&self.divers, &mut index) {
            if self.at_sub(d) && self.diver_count < 6 {
                remove_value(&self.arena, &mut self.divers, d);
                self.diver_count += 1;
            } else if self.arena[d][MOVE] == 0 {
                self.arena[d][MOVE] = DIVER_MOVE_INTERVAL;
                step_x(&mut self.arena[d]);
                if off_screen(&self.arena[d]) {
                    remove_value(&self.arena, &mut self.divers, d);
                } else if self.at_sub(d) && self.diver_count < 6 {
                    remove_value(&self.arena, &mut self.divers, d);
                    self.diver_count += 1;
                }
            } else {
                self.arena[d][MOVE] -= 1;
            }
        }

        // Enemy subs (a removed sub still runs its shot timer).
        let mut index = start_reversed(&self.e_subs);
        while let Some(s) = next_reversed(&self.e_subs, &mut index) {
            if self.at_sub(s) {
                self.terminal = true;
            }
            reward += self.move_enemy(s, true);
            if self.arena[s][SHOT] == 0 {
                self.arena[s][SHOT] = ENEMY_SHOT_INTERVAL;
                let [x, y, right, ..] = self.arena[s];
                let id = self.push([x, y, right, 0, 0]);
                self.e_bullets.push(id);
            } else {
                self.arena[s][SHOT] -= 1;
            }
        }

        // Enemy bullets.
        let mut index = start_reversed(&self.e_bullets);
        while let Some(b) = next_reversed(&self.e_bullets, &mut index) {
            if self.at_sub(b) {
                self.terminal = true;
            }
            step_x(&mut self.arena[b]);
            if off_screen(&self.arena[b]) {
                remove_value(&self.arena, &mut self.e_bullets, b);
            } else if self.at_sub(b) {
                self.terminal = true;
            }
        }

        // Enemy fish.
        let mut index = start_reversed(&self.e_fish);
        while let Some(f) = next_reversed(&self.e_fish, &mut index) {
            if self.at_sub(f) {
                self.terminal = true;
            }
            reward += self.move_enemy(f, false);
        }

        if self.e_spawn_timer > 0 {
            self.e_spawn_timer -= 1;
        }
        if self.d_spawn_timer > 0 {
            self.d_spawn_timer -= 1;
        }
        if self.shot_timer > 0 {
            self.shot_timer -= 1;
        }
        if self.oxygen <= 0 {
            self.terminal = true;
        }
        if self.sub_y > 0 {
            self.oxygen -= 1;
            self.surface = false;
        } else if !self.surface {
            if self.diver_count == 0 {
                self.terminal = true;
            } else {
                reward += self.surface();
            }
        }
        self.compact();
        Outcome {
            reward,
            terminated: self.terminal,
            truncated: false,
        }
    }

    fn state(&self, grid: &mut Grid) {
        grid.set(self.sub_y, self.sub_x, SUB_FRONT);
        let back_x = if self.sub_or {
            self.sub_x - 1
        } else {
            self.sub_x + 1
        };
        grid.set(self.sub_y, back_x, SUB_BACK);
        for col in 0..(self.oxygen.max(0) * 10).div_euclid(MAX_OXYGEN).min(10) {
            grid.set(9, col, OXYGEN_GAUGE);
        }
        // numpy's `[9 - count : 9]`: empty for a negative count.
        for col in (9 - self.diver_count).max(0)..9 {
            grid.set(9, col, DIVER_GAUGE);
        }
        for &b in &self.f_bullets {
            grid.set(self.arena[b][Y], self.arena[b][X], FRIENDLY_BULLET);
        }
        for &b in &self.e_bullets {
            grid.set(self.arena[b][Y], self.arena[b][X], ENEMY_BULLET);
        }
        for (list, channel) in [
            (&self.e_fish, ENEMY_FISH),
            (&self.e_subs, ENEMY_SUB),
            (&self.divers, DIVER),
        ] {
            for &id in list {
                let e = &self.arena[id];
                grid.set(e[Y], e[X], channel);
                let back_x = if e[RIGHT] != 0 { e[X] - 1 } else { e[X] + 1 };
                if (0..=9).contains(&back_x) {
                    grid.set(e[Y], back_x, TRAIL);
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

    fn game() -> (Seaquest, StdMinAtarRng) {
        let (mut game, rng) = crate::minatar::started::<Seaquest>();
        game.set_spawn_timers(1000, 1000);
        (game, rng)
    }

    fn gauge(game: &Seaquest, channel: usize) -> usize {
        let mut grid = Grid::new(Seaquest::CHANNELS);
        game.state(&mut grid);
        (0..10).filter(|&c| grid.get(9, c, channel)).count()
    }

    #[test]
    fn surfacing_with_six_divers_pays_and_leaves_minus_one() {
        let (mut g, mut rng) = game();
        g.set_sub(5, 1, false, false);
        g.set_diver_count(6);
        g.set_oxygen(150);
        assert_eq!(gauge(&g, DIVER_GAUGE), 6);
        let out = g.act(Act::Up, &mut rng);
        assert_eq!(out.reward, 150 * 10 / MAX_OXYGEN);
        assert!(!out.terminated);
        assert_eq!(g.diver_count(), -1);
        assert_eq!(g.oxygen(), MAX_OXYGEN);
        assert_eq!(gauge(&g, DIVER_GAUGE), 0);
        // Diving and surfacing again at -1 neither terminates nor pays.
        g.act(Act::Down, &mut rng);
        let out = g.act(Act::Up, &mut rng);
        assert!(!out.terminated && out.reward == 0);
        assert_eq!(g.diver_count(), -2);
    }

    #[test]
    fn surfacing_without_divers_terminates_and_with_one_refills() {
        let (mut g, mut rng) = game();
        g.set_sub(5, 1, false, false);
        g.set_diver_count(1);
        g.set_oxygen(20);
        let out = g.act(Act::Up, &mut rng);
        assert!(!out.terminated && out.reward == 0);
        assert_eq!((g.diver_count(), g.oxygen()), (0, MAX_OXYGEN));
        g.act(Act::Down, &mut rng);
        assert!(g.act(Act::Up, &mut rng).terminated);
    }

    #[test]
    fn shooting_a_fish_scores_and_divers_are_collected() {
        let (mut g, mut rng) = game();
        g.set_sub(3, 4, true, false);
        g.add_fish([5, 4, 0, 10, 0]);
        // The bullet starts on the sub and moves right one cell a frame.
        assert_eq!(g.act(Act::Fire, &mut rng).reward, 0);
        assert_eq!(g.act(Act::Noop, &mut rng).reward, 1);
        assert!(g.fish().is_empty());
        g.add_diver([4, 4, 0, 0, 0]);
        g.act(Act::Noop, &mut rng);
        assert_eq!(g.diver_count(), 1);
        assert!(g.divers().is_empty());
        assert_eq!(gauge(&g, OXYGEN_GAUGE), 9);
    }
}
