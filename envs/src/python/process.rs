//! The worker process: start it, ask it one thing at a time, and never wait
//! on it forever.
//!
//! Replies are read in the calling thread with `poll(2)` and a deadline
//! (no reader thread: a hand-over between threads would add two context
//! switches to every step). A hung worker becomes [`EnvError::Timeout`] and
//! is killed; a worker that exits or is killed shows up as the end of its
//! output and becomes [`EnvError::WorkerDied`] with its exit status and the
//! end of its stderr. A thread drains stderr into a bounded tail, both for
//! those messages and so that a chatty worker never blocks on a full pipe.
//! Once a worker has failed it is dead for good: every later call fails at
//! once with the same reason.
//!
//! The worker leads a process group of its own, and is killed as a group,
//! so that an interpreter behind a wrapper script that forks it (pyenv's
//! shims can) dies with it.

use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use serde_json::Value;

use super::protocol::{Inbox, Message, write_message};
use crate::EnvError;

/// The worker script, run with `python -c`.
const WORKER_SCRIPT: &str = include_str!("worker.py");
/// How much of the worker's stderr is kept for error messages.
const STDERR_TAIL: usize = 8 * 1024;
/// Bytes read from the worker's stdout at a time.
const READ_CHUNK: usize = 64 * 1024;
/// How long a worker gets to exit by itself once its stdin is closed.
const EXIT_GRACE: Duration = Duration::from_secs(1);

/// A running worker, or the reason it no longer runs.
pub(crate) struct WorkerProcess {
    /// Our id of the environment, for error messages.
    env: String,
    child: Child,
    /// `None` once closed (dropping it tells the worker to finish).
    stdin: Option<ChildStdin>,
    stdout: ChildStdout,
    /// Reply bytes read but not yet framed.
    inbox: Inbox,
    /// Scratch space for reads.
    chunk: Vec<u8>,
    stderr: Arc<Mutex<Vec<u8>>>,
    stderr_thread: Option<JoinHandle<()>>,
    timeout: Duration,
    /// Why the worker can no longer be used, once it cannot.
    dead: Option<String>,
    /// The worker's first message (versions).
    pub hello: Value,
}

impl WorkerProcess {
    /// Start `python` on the worker script and wait (up to `timeout`, which
    /// also applies to later calls until [`Self::set_timeout`]) for its hello.
    pub fn spawn(
        env: &str,
        python: &Path,
        timeout: Duration,
        forward_stderr: bool,
    ) -> Result<Self, EnvError> {
        let mut command = Command::new(python);
        command
            .arg("-c")
            .arg(WORKER_SCRIPT)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        // A group of its own, so that killing the worker also kills the real
        // interpreter when `python` is a wrapper that forks it (pyenv does,
        // for some command lines).
        command.process_group(0);
        let mut child = command.spawn().map_err(|e| EnvError::External {
            env: env.to_string(),
            message: format!(
                "could not start the Python interpreter `{}`: {e}; install Python 3 \
                 and `pip install gymnasium`, or point SOMNIUM_PYTHON (or \
                 PythonEnvOptions::python) at an interpreter that has it",
                python.display()
            ),
        })?;
        let stdin = child.stdin.take().expect("stdin is piped");
        let stdout = child.stdout.take().expect("stdout is piped");
        // A raw RGB Atari frame (100 KiB) overflows the default 64 KiB pipe,
        // which costs extra context switches per step; ask Linux for 1 MiB
        // (its default ceiling for unprivileged processes). Best effort.
        #[cfg(target_os = "linux")]
        // SAFETY: fcntl on a file descriptor we own; failure is harmless.
        unsafe {
            libc::fcntl(stdout.as_raw_fd(), libc::F_SETPIPE_SZ, 1 << 20);
        }
        let stderr = child.stderr.take().expect("stderr is piped");
        let tail = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&tail);
        let spawned = thread::Builder::new()
            .name(format!("somnium-python-{}-stderr", child.id()))
            .spawn(move || drain_stderr(stderr, &sink, forward_stderr));
        let stderr_thread = match spawned {
            Ok(handle) => handle,
            Err(e) => {
                kill_tree(&mut child);
                return Err(EnvError::External {
                    env: env.to_string(),
                    message: format!("could not start a thread for the Python worker: {e}"),
                });
            }
        };
        let mut worker = Self {
            env: env.to_string(),
            child,
            stdin: Some(stdin),
            stdout,
            inbox: Inbox::default(),
            chunk: vec![0; READ_CHUNK],
            stderr: tail,
            stderr_thread: Some(stderr_thread),
            timeout,
            dead: None,
            hello: Value::Null,
        };
        worker.hello = worker.receive("start-up")?.header;
        Ok(worker)
    }

    /// The Python interpreter's process id (as it reported it; that of the
    /// process we started if it did not).
    pub fn pid(&self) -> u32 {
        self.hello["pid"]
            .as_u64()
            .and_then(|pid| u32::try_from(pid).ok())
            .unwrap_or_else(|| self.child.id())
    }

    /// Change how long each later call may take.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// The last few kilobytes the worker wrote to stderr.
    pub fn stderr_tail(&self) -> String {
        let tail = self.stderr.lock().unwrap_or_else(|e| e.into_inner());
        String::from_utf8_lossy(&tail).into_owned()
    }

    /// Send `request` and wait for its reply. `call` names the request in errors.
    pub fn call(&mut self, call: &str, request: &Message) -> Result<Message, EnvError> {
        if let Some(reason) = &self.dead {
            return Err(EnvError::WorkerDied {
                env: self.env.clone(),
                call: call.to_string(),
                status: format!("it had already stopped: {reason}"),
                stderr: self.stderr_tail(),
            });
        }
        let stdin = self.stdin.as_mut().expect("a live worker has its stdin");
        if write_message(stdin, request).is_err() {
            // A broken pipe: the worker is gone; its exit status says why.
            return Err(self.died(call));
        }
        self.receive(call)
    }

    /// Wait for the next reply, turning every way of not getting one into an error.
    fn receive(&mut self, call: &str) -> Result<Message, EnvError> {
        let deadline = Instant::now().checked_add(self.timeout);
        loop {
            match self.inbox.take() {
                Ok(Some(reply)) => {
                    return match reply.header.get("error") {
                        Some(error) => Err(python_error(&self.env, error)),
                        None => Ok(reply),
                    };
                }
                Ok(None) => {}
                Err(broken) => {
                    self.kill(format!("broke the protocol during `{call}`: {broken}"));
                    return Err(self.died(call));
                }
            }
            match wait_readable(&self.stdout, deadline) {
                Ok(true) => match self.stdout.read(&mut self.chunk) {
                    // The end of its output: the worker exited or was killed.
                    Ok(0) => return Err(self.died(call)),
                    Ok(n) => self.inbox.extend(&self.chunk[..n]),
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        self.kill(format!("its output could not be read: {e}"));
                        return Err(self.died(call));
                    }
                },
                Ok(false) => {
                    let seconds = self.timeout.as_secs_f64();
                    self.kill(format!(
                        "killed by somnium after `{call}` took longer than {seconds} s"
                    ));
                    return Err(EnvError::Timeout {
                        env: self.env.clone(),
                        call: call.to_string(),
                        seconds,
                    });
                }
                Err(e) => {
                    self.kill(format!("waiting for its output failed: {e}"));
                    return Err(self.died(call));
                }
            }
        }
    }

    /// The error for a worker that stopped answering during `call`: its exit
    /// status (waiting briefly for it) and the end of its stderr.
    fn died(&mut self, call: &str) -> EnvError {
        if self.dead.is_none() {
            let status = match self.wait_for_exit(EXIT_GRACE) {
                Some(status) => describe(status),
                None => "closed its output but did not exit; killed".to_string(),
            };
            self.dead = Some(status);
        }
        self.settle_stderr();
        EnvError::WorkerDied {
            env: self.env.clone(),
            call: call.to_string(),
            status: self.dead.clone().unwrap_or_default(),
            stderr: self.stderr_tail(),
        }
    }

    /// Kill the worker (if still running) and remember why.
    fn kill(&mut self, reason: String) {
        kill_tree(&mut self.child);
        self.stdin = None;
        self.dead.get_or_insert(reason);
    }

    /// Poll for the worker's exit for up to `limit`, then kill whatever is
    /// left of its process group. `None` if it had to be killed.
    fn wait_for_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let start = Instant::now();
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    // A wrapper may exit before the interpreter it started.
                    kill_group(&self.child);
                    return Some(status);
                }
                Ok(None) if start.elapsed() < limit => thread::sleep(Duration::from_millis(2)),
                _ => {
                    kill_tree(&mut self.child);
                    return None;
                }
            }
        }
    }

    /// Give the stderr thread a moment to read what a dead worker wrote last.
    fn settle_stderr(&mut self) {
        let start = Instant::now();
        while let Some(handle) = &self.stderr_thread {
            if handle.is_finished() || start.elapsed() > Duration::from_millis(500) {
                break;
            }
            thread::sleep(Duration::from_millis(2));
        }
    }
}

impl Drop for WorkerProcess {
    /// Close the worker's stdin (it then closes its environment and exits),
    /// give it a moment, and kill it if it is still there: no process outlives
    /// its `PythonEnv`.
    fn drop(&mut self) {
        if self.dead.is_none() {
            self.stdin = None;
            self.wait_for_exit(EXIT_GRACE);
        }
    }
}

/// Wait until `stdout` has bytes (or its end) to read: `false` if `deadline`
/// passed first (`None`: no deadline).
fn wait_readable(stdout: &ChildStdout, deadline: Option<Instant>) -> io::Result<bool> {
    let mut fd = libc::pollfd {
        fd: stdout.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    loop {
        let timeout_ms = match deadline {
            None => -1,
            Some(deadline) => {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return Ok(false);
                }
                // Rounded up, so that a sub-millisecond rest does not spin.
                (left.as_micros().div_ceil(1000)).min(libc::c_int::MAX as u128) as libc::c_int
            }
        };
        // SAFETY: one valid pollfd, owned by this frame, for the duration of the call.
        let ready = unsafe { libc::poll(&mut fd, 1, timeout_ms) };
        match ready {
            0 => {}                        // Timed out; the deadline check above decides.
            n if n > 0 => return Ok(true), // POLLIN, or POLLHUP at the end.
            _ => {
                let e = io::Error::last_os_error();
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
        }
    }
}

/// Kill `child` and everything in its process group, and reap it.
fn kill_tree(child: &mut Child) {
    // The group first, while the unreaped child keeps its id from reuse.
    kill_group(child);
    let _ = child.kill();
    let _ = child.wait();
}

/// Send SIGKILL to the process group that `child` leads (see `spawn`).
fn kill_group(child: &Child) {
    if let Ok(pgid) = libc::pid_t::try_from(child.id()) {
        // SAFETY: kill(2) takes plain integers and has no memory effects; a
        // group that no longer exists gives ESRCH, which is fine here.
        unsafe {
            libc::kill(-pgid, libc::SIGKILL);
        }
    }
}

/// Turn the worker's `{"type", "message", "traceback"}` into an error.
fn python_error(env: &str, error: &Value) -> EnvError {
    let text = |key: &str| error[key].as_str().unwrap_or_default().to_string();
    let kind = text("type");
    let message = text("message");
    EnvError::Python {
        env: env.to_string(),
        message: if kind.is_empty() {
            message
        } else {
            format!("{kind}: {message}")
        },
        traceback: text("traceback"),
    }
}

/// An exit status in words, naming the signal where there was one.
fn describe(status: ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    if let Some(signal) = status.signal() {
        let name = match signal {
            libc::SIGABRT => " (SIGABRT)",
            libc::SIGKILL => " (SIGKILL)",
            libc::SIGSEGV => " (SIGSEGV, a crash in native code)",
            libc::SIGTERM => " (SIGTERM)",
            _ => "",
        };
        return format!("killed by signal {signal}{name}");
    }
    match status.code() {
        Some(code) => format!("exited with status {code}"),
        None => status.to_string(),
    }
}

/// Keep the last [`STDERR_TAIL`] bytes of `stderr` in `tail`, copying them to
/// our stderr too if asked.
fn drain_stderr(mut stderr: impl Read, tail: &Mutex<Vec<u8>>, forward: bool) {
    let mut chunk = [0u8; 4096];
    loop {
        let n = match stderr.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        if forward {
            let _ = std::io::stderr().write_all(&chunk[..n]);
        }
        let mut tail = tail.lock().unwrap_or_else(|e| e.into_inner());
        tail.extend_from_slice(&chunk[..n]);
        if tail.len() > STDERR_TAIL {
            let excess = tail.len() - STDERR_TAIL;
            tail.drain(..excess);
        }
    }
}
