"""somnium's Gymnasium worker: one Python environment served over stdin/stdout.

The Rust crate somnium-envs embeds this file (include_str!) and runs it as
`python3 -c <this file>`, one process per environment, so that a crash or a
hang in Python cannot take the Rust process down (see envs/src/python/mod.rs).

Protocol (envs/src/python/protocol.rs has the Rust side): every message, in
both directions, is

    u32 LE header length | u32 LE payload length | JSON header | raw payload

Requests carry {"cmd": ...}; replies carry the result, or {"error": {"type",
"message", "traceback"}} when Python raised. Observations and frames travel
as raw little-endian bytes in the payload. The first message is the worker's
hello (versions, or the import error when gymnasium is missing).

Anything that libraries print goes to stderr: the protocol keeps a private
duplicate of the original stdout and file descriptor 1 is pointed at stderr,
so a stray print (from Python or from C, such as ALE's banner) cannot corrupt
the stream.
"""

import importlib
import json
import math
import os
import struct
import sys
import traceback

_LENGTHS = struct.Struct("<II")


def read_message(stream):
    """One (header, payload) pair, or None at a clean end of input."""
    lengths = stream.read(_LENGTHS.size)
    if not lengths:
        return None
    if len(lengths) < _LENGTHS.size:
        raise EOFError("input ended inside a message")
    header_len, payload_len = _LENGTHS.unpack(lengths)
    header = stream.read(header_len)
    payload = stream.read(payload_len) if payload_len else b""
    if len(header) < header_len or len(payload) < payload_len:
        raise EOFError("input ended inside a message")
    return json.loads(header), payload


def write_message(stream, header, payload=b""):
    """Write one frame in a single call, then flush."""
    data = json.dumps(header, allow_nan=False).encode()
    stream.write(_LENGTHS.pack(len(data), len(payload)) + data + payload)
    stream.flush()


def jsonable(value):
    """`value` with numpy scalars and arrays made plain, and non-finite floats
    written as the strings "inf", "-inf" and "nan" (JSON has neither)."""
    if isinstance(value, float) or type(value).__name__.startswith("float"):
        value = float(value)
        if math.isfinite(value):
            return value
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, (bool, int, str)) or value is None:
        return value
    if hasattr(value, "tolist"):  # numpy arrays and scalars
        return jsonable(value.tolist())
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    return repr(value)


def bound(array):
    """A Box bound: one value when uniform (large image boxes), else a flat list."""
    flat = array.reshape(-1)
    if flat.size and (flat == flat[0]).all():
        return jsonable(flat[0])
    return jsonable(flat)


def describe_space(space):
    """A JSON description of a Gymnasium space (spaces.rs maps it to ours)."""
    import numpy as np
    from gymnasium import spaces

    if isinstance(space, spaces.Box):
        return {
            "type": "Box",
            "shape": list(space.shape),
            "dtype": str(space.dtype),
            "low": bound(space.low),
            "high": bound(space.high),
        }
    if isinstance(space, spaces.Discrete):
        return {"type": "Discrete", "n": int(space.n), "start": int(space.start)}
    if isinstance(space, spaces.MultiBinary):
        return {"type": "MultiBinary", "shape": list(space.shape), "low": 0, "high": 1}
    if isinstance(space, spaces.MultiDiscrete):
        nvec = np.asarray(space.nvec)
        return {
            "type": "MultiDiscrete",
            "shape": list(nvec.shape),
            "low": bound(np.asarray(space.start)),
            "high": bound(np.asarray(space.start) + nvec - 1),
        }
    return {"type": type(space).__name__, "repr": repr(space)}


class Worker:
    """The environment and the commands that drive it."""

    def __init__(self):
        import gymnasium
        import numpy

        self.gym = gymnasium
        self.np = numpy
        self.env = None
        self.obs_dtype = None
        self.obs_transpose = None
        self.action_space = None

    def hello(self):
        return {
            "python": sys.version.split()[0],
            "gymnasium": self.gym.__version__,
            "numpy": self.np.__version__,
            "pid": os.getpid(),
        }

    def cmd_make(self, header, _payload):
        for path in header.get("sys_path", []):
            sys.path.insert(0, path)
        for module in header.get("imports", []):
            importlib.import_module(module)
        env_id = header["id"]
        kwargs = dict(header.get("kwargs") or {})
        atari = header.get("atari_preprocessing", False)
        if env_id.startswith("ALE/") or atari:
            try:
                import ale_py
            except ImportError as e:
                raise ImportError(
                    f"{e}: ALE ids need the ale-py package, which ships the ROMs: "
                    "pip install ale-py"
                ) from e
            self.gym.register_envs(ale_py)
        if header.get("render", False):
            kwargs.setdefault("render_mode", "rgb_array")
        if atari:
            # AtariPreprocessing repeats actions itself; the base env must not.
            kwargs.setdefault("frameskip", 1)
        env = self.gym.make(env_id, **kwargs)
        if atari:
            frames = header.get("atari") or {}
            env = self.gym.wrappers.AtariPreprocessing(
                env,
                noop_max=frames.get("noop_max", 30),
                frame_skip=4,
                screen_size=frames.get("screen_size", 84),
                terminal_on_life_loss=False,
                grayscale_obs=frames.get("grayscale", True),
                scale_obs=False,
            )
        self.env = env
        self.action_space = env.action_space
        spec = env.spec
        return {
            "observation_space": describe_space(env.observation_space),
            "action_space": describe_space(env.action_space),
            "spec_id": spec.id if spec is not None else None,
            "max_episode_steps": spec.max_episode_steps if spec is not None else None,
        }, b""

    def cmd_configure(self, header, _payload):
        self.obs_dtype = self.np.dtype("<u1" if header["dtype"] == "uint8" else "<f4")
        self.obs_transpose = header.get("transpose")
        return {}, b""

    def encode(self, obs):
        array = self.np.asarray(obs)
        if self.obs_transpose is not None:
            array = array.transpose(self.obs_transpose)
        return self.np.ascontiguousarray(array, dtype=self.obs_dtype).tobytes()

    def cmd_reset(self, header, _payload):
        seed = header.get("seed")
        obs, _info = self.env.reset(seed=seed)
        return {}, self.encode(obs)

    def cmd_step(self, header, _payload):
        action = header["action"]
        if isinstance(action, list):
            space = self.action_space
            action = self.np.asarray(action, dtype=space.dtype).reshape(space.shape)
        obs, reward, terminated, truncated, _info = self.env.step(action)
        return {
            "reward": jsonable(reward),
            "terminated": bool(terminated),
            "truncated": bool(truncated),
        }, self.encode(obs)

    def cmd_render(self, _header, _payload):
        frame = self.env.render() if self.env.render_mode == "rgb_array" else None
        if frame is None:
            return {"shape": None}, b""
        frame = self.np.ascontiguousarray(frame, dtype=self.np.uint8)
        return {"shape": list(frame.shape)}, frame.tobytes()

    def cmd_get_attr(self, header, _payload):
        return {"value": jsonable(getattr(self.env.unwrapped, header["name"]))}, b""

    def cmd_close(self, _header, _payload):
        if self.env is not None:
            env, self.env = self.env, None
            env.close()
        return {}, b""


def error_reply(exc):
    return {
        "error": {
            "type": type(exc).__name__,
            "message": str(exc),
            "traceback": "".join(
                traceback.format_exception(type(exc), exc, exc.__traceback__)
            ),
        }
    }


def main():
    # Keep the protocol on private descriptors; send fd 1 (and sys.stdout) to
    # stderr so that prints cannot corrupt it.
    out = os.fdopen(os.dup(1), "wb")
    inp = os.fdopen(os.dup(0), "rb")
    os.dup2(2, 1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    sys.stdout = sys.stderr

    try:
        worker = Worker()
    except ImportError as exc:
        reply = error_reply(exc)
        missing = getattr(exc, "name", None) or "gymnasium"
        # Spell no pip-module invocation here: pyenv wraps any command line
        # that contains one, and this whole script is on ours.
        reply["error"]["message"] = (
            f"{exc} in the interpreter {sys.executable}; the bridge needs gymnasium "
            f"and numpy: pip install {missing} (with that interpreter's pip)"
        )
        write_message(out, reply)
        return
    write_message(out, worker.hello())

    while True:
        message = read_message(inp)
        if message is None:  # Rust closed our stdin: it is done with us.
            break
        header, payload = message
        cmd = header.get("cmd")
        handler = getattr(worker, f"cmd_{cmd}", None)
        try:
            if handler is None:
                raise ValueError(f"unknown command {cmd!r}")
            reply, data = handler(header, payload)
        except Exception as exc:  # Reported to Rust; the worker lives on.
            reply, data = error_reply(exc), b""
        write_message(out, reply, data)
        if cmd == "close":
            break
    try:
        worker.cmd_close({}, b"")
    except Exception:
        pass


if __name__ == "__main__":
    main()
