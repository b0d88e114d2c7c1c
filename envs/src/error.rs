//! The error type of the environments crate.

/// Something went wrong creating or stepping an environment.
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    /// No environment is registered under this id.
    #[error("unknown environment id `{id}`; run `somnium envs` to list the registered ones")]
    UnknownId {
        /// The id that was asked for.
        id: String,
    },
    /// The action does not belong to the environment's action space.
    #[error("invalid action for `{env}`: {problem}")]
    InvalidAction {
        /// The environment id.
        env: String,
        /// What is wrong with the action.
        problem: String,
    },
    /// `step` was called before `reset`, or after the episode ended.
    #[error("`{env}`: {problem}")]
    BadCall {
        /// The environment id.
        env: String,
        /// What was called out of order.
        problem: String,
    },
    /// An external environment (for example a Python process) failed.
    #[error("environment `{env}` failed: {message}")]
    External {
        /// The environment id.
        env: String,
        /// The failure, including any traceback the external side reported.
        message: String,
    },
}
