//! The registry of environments, looked up by id: the built-in ones, plus
//! any a program adds with [`register`] so that experiment files and
//! [`crate::VecEnv::make`] can name its own environments the same way.

use std::sync::RwLock;

use crate::{Env, EnvError};

/// Environments added at run time by [`register`], after the built-in ones.
static REGISTERED: RwLock<Vec<EnvSpec>> = RwLock::new(Vec::new());

/// A registered environment: its id, where it comes from, and how to build it.
#[derive(Clone, Copy)]
pub struct EnvSpec {
    /// The id experiments use, e.g. `CartPole-v1` or `MinAtar/Breakout-v1`.
    pub id: &'static str,
    /// The reference implementation this one is faithful to.
    pub reference: &'static str,
    /// Builds a fresh copy (call `reset` before stepping it).
    pub make: fn() -> Box<dyn Env>,
}

/// Every environment: the built-in ones in a stable order, then those added
/// with [`register`] in the order they were added.
pub fn registry() -> Vec<EnvSpec> {
    let mut specs = builtin();
    specs.extend(REGISTERED.read().expect("registry lock").iter().copied());
    specs
}

fn builtin() -> Vec<EnvSpec> {
    let mut specs = Vec::new();
    // Each family module contributes its specs here.
    specs.extend(crate::classic::specs());
    specs.extend(crate::minatar::specs());
    specs
}

/// Add an environment of your own under `spec.id`, so that [`make`],
/// [`crate::VecEnv::make`] and experiment files (`env.id`) find it.
/// Registering the same spec again is a no-op; an id that is taken by a
/// different environment, or that starts with the bridge's `gym:` prefix,
/// is an error.
pub fn register(spec: EnvSpec) -> Result<(), EnvError> {
    let taken = |other: &EnvSpec| other.id == spec.id;
    let mut registered = REGISTERED.write().expect("registry lock");
    let clash = builtin()
        .iter()
        .chain(registered.iter())
        .find(|other| taken(other))
        .copied();
    match clash {
        Some(other) if std::ptr::fn_addr_eq(other.make, spec.make) => Ok(()),
        Some(_) => Err(EnvError::BadCall {
            env: spec.id.to_string(),
            problem: "register: this id is already taken by another environment".into(),
        }),
        None if spec.id.starts_with("gym:") => Err(EnvError::BadCall {
            env: spec.id.to_string(),
            problem: "register: ids starting with `gym:` belong to the Python bridge".into(),
        }),
        None => {
            registered.push(spec);
            Ok(())
        }
    }
}

/// Build the environment registered under `id`. Ids starting with `gym:`
/// (e.g. `gym:ALE/Pong-v5?atari`) go to the Python bridge, which needs the
/// `python` feature.
pub fn make(id: &str) -> Result<Box<dyn Env>, EnvError> {
    if id.starts_with("gym:") {
        return make_gym(id);
    }
    let specs = registry();
    match specs.iter().find(|spec| spec.id == id) {
        Some(spec) => Ok((spec.make)()),
        None => {
            let registered: Vec<String> = specs.iter().map(|s| s.id.to_string()).collect();
            Err(EnvError::UnknownId {
                id: id.to_string(),
                nearest: nearest(id, &registered),
                registered,
            })
        }
    }
}

/// The id in `ids` closest to `id` by edit distance, ignoring case, when
/// it is within a third of the id's length (a typo, not another name).
fn nearest(id: &str, ids: &[String]) -> Option<String> {
    let wanted = id.to_lowercase();
    ids.iter()
        .map(|candidate| {
            (
                strsim::levenshtein(&wanted, &candidate.to_lowercase()),
                candidate,
            )
        })
        .min_by_key(|(distance, _)| *distance)
        .filter(|(distance, _)| *distance <= (wanted.chars().count() / 3).max(1))
        .map(|(_, candidate)| candidate.clone())
}

/// A `gym:` id: run by the Python bridge.
#[cfg(feature = "python")]
fn make_gym(id: &str) -> Result<Box<dyn Env>, EnvError> {
    crate::python::make(id)
}

/// A `gym:` id in a build without the bridge.
#[cfg(not(feature = "python"))]
fn make_gym(id: &str) -> Result<Box<dyn Env>, EnvError> {
    Err(EnvError::FeatureDisabled {
        id: id.to_string(),
        feature: "python".to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_id_lists_the_registered_and_suggests_the_nearest() {
        let err = make("Cartpole-v0").err().unwrap().to_string();
        assert!(
            err.contains("did you mean `CartPole-v1`?") && err.contains("MountainCar-v0"),
            "{err}"
        );
        let err = make("Tetris").err().unwrap().to_string();
        assert!(
            !err.contains("did you mean") && err.contains("registered: "),
            "{err}"
        );
    }

    fn corridor() -> Box<dyn Env> {
        crate::make("CartPole-v1").expect("built in")
    }

    fn other() -> Box<dyn Env> {
        crate::make("Pendulum-v1").expect("built in")
    }

    #[test]
    fn registered_environments_are_made_by_id() {
        let spec = EnvSpec {
            id: "RegistryTest/Corridor-v0",
            reference: "a test",
            make: corridor,
        };
        register(spec).unwrap();
        register(spec).unwrap(); // the same again is fine
        assert!(registry().iter().any(|s| s.id == spec.id));
        assert_eq!(make(spec.id).unwrap().id(), "CartPole-v1");

        let clash = EnvSpec {
            make: other,
            ..spec
        };
        let err = register(clash).unwrap_err().to_string();
        assert!(err.contains("already taken"), "{err}");
        let builtin = EnvSpec {
            id: "CartPole-v1",
            ..clash
        };
        assert!(register(builtin).is_err());
        let gym = EnvSpec {
            id: "gym:Mine-v0",
            ..clash
        };
        assert!(register(gym).unwrap_err().to_string().contains("gym:"));
    }
}
