//! The error type of the environments crate.

/// Something went wrong creating or stepping an environment.
#[derive(Debug, thiserror::Error)]
pub enum EnvError {
    /// No environment is registered under this id.
    #[error(
        "unknown environment id `{id}`{}; registered: {} (and `gym:<id>` for Python \
         Gymnasium ids; `somnium envs` describes each)",
        nearest.as_ref().map(|n| format!("; did you mean `{n}`?")).unwrap_or_default(),
        registered.join(", ")
    )]
    UnknownId {
        /// The id that was asked for.
        id: String,
        /// The registered id nearest to it, when one is close.
        nearest: Option<String>,
        /// Every registered id.
        registered: Vec<String>,
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
    /// A Python environment raised an exception (see the `python` feature).
    #[error("Python environment `{env}` raised {message}\n{traceback}")]
    Python {
        /// The environment id, e.g. `gym:CartPole-v1`.
        env: String,
        /// The exception's type and message, e.g. `ValueError: bad action`.
        message: String,
        /// Python's formatted traceback.
        traceback: String,
    },
    /// The worker process of a Python environment stopped answering: it
    /// exited, crashed, was killed, or broke the protocol.
    #[error(
        "the Python worker of `{env}` stopped during `{call}`: {status}; its stderr ended with:\n{stderr}"
    )]
    WorkerDied {
        /// The environment id.
        env: String,
        /// The call that found it gone (`make`, `reset`, `step`, ...).
        call: String,
        /// Its exit status, or what happened to it, in words.
        status: String,
        /// The last few kilobytes of its stderr.
        stderr: String,
    },
    /// A call took longer than its timeout; the worker process was killed.
    #[error(
        "`{env}`: `{call}` took longer than {seconds} s; its Python worker was killed (raise the timeouts in `PythonEnvOptions` if the environment is just slow)"
    )]
    Timeout {
        /// The environment id.
        env: String,
        /// The call that timed out.
        call: String,
        /// The timeout, in seconds.
        seconds: f64,
    },
    /// The id needs a cargo feature of somnium-envs that this build lacks.
    #[error(
        "`{id}` needs the `{feature}` cargo feature of somnium-envs (build with `--features somnium-envs/{feature}`)"
    )]
    FeatureDisabled {
        /// The id that was asked for.
        id: String,
        /// The feature that would provide it.
        feature: String,
    },
}
