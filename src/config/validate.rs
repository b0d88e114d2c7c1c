//! Range checks on loaded configs, reported with the dotted key.

use crate::{Error, Result};

/// Collects range problems while walking a config.
#[derive(Debug, Default)]
pub struct Validator {
    prefix: Vec<String>,
    problems: Vec<(String, String)>,
}

impl Validator {
    /// Check the fields of a nested section named `name`.
    pub fn section(&mut self, name: &str, check: impl FnOnce(&mut Validator)) {
        self.prefix.push(name.to_string());
        check(self);
        self.prefix.pop();
    }

    /// Record a problem with `key` unless `ok`.
    pub fn check(&mut self, ok: bool, key: &str, problem: impl Into<String>) {
        if !ok {
            let mut path = self.prefix.clone();
            path.push(key.to_string());
            self.problems.push((path.join("."), problem.into()));
        }
    }

    /// `value` must be positive.
    pub fn positive<T: PartialOrd + Default + std::fmt::Display>(&mut self, key: &str, value: T) {
        let ok = value > T::default();
        self.check(ok, key, format!("must be greater than 0, got {value}"));
    }

    /// `value` must lie in `[low, high]`.
    pub fn in_range<T: PartialOrd + std::fmt::Display>(
        &mut self,
        key: &str,
        value: T,
        low: T,
        high: T,
    ) {
        let ok = value >= low && value <= high;
        self.check(ok, key, format!("must lie in [{low}, {high}], got {value}"));
    }

    /// Take over the problems another validator found, under this one's
    /// current section.
    pub fn absorb(&mut self, other: Validator) {
        for (key, problem) in other.problems {
            let mut path = self.prefix.clone();
            path.push(key);
            self.problems.push((path.join("."), problem));
        }
    }

    /// Every problem found, as (dotted key, problem), in the order found.
    pub fn into_problems(self) -> Vec<(String, String)> {
        self.problems
    }

    /// The first problem found, as an error naming `origin`.
    pub fn finish(self, origin: &str) -> Result<()> {
        match self.problems.into_iter().next() {
            None => Ok(()),
            Some((key, problem)) => Err(Error::config(origin, key, problem)),
        }
    }
}

/// A config section that can check its own values.
pub trait Validate {
    /// Dotted keys that may hold an infinity (every other float must be
    /// finite, and none may be NaN).
    const MAY_BE_INFINITE: &'static [&'static str] = &[];

    /// Record every out-of-range value.
    fn validate(&self, v: &mut Validator);
}
