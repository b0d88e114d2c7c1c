"""Regenerate docs/config.md from the config structs' doc comments and the
defaults that `somnium config` prints. Run from the repository root:
    python3 scripts/gen_config_doc.py
(SOMNIUM_BIN=target/debug/somnium uses that binary instead of building one.)
"""
import os, re, subprocess, tomllib
command = [os.environ["SOMNIUM_BIN"]] if "SOMNIUM_BIN" in os.environ else ["cargo", "run", "--quiet", "--release", "--"]
printed = subprocess.run(command + ["config"],
                         check=True, capture_output=True, text=True).stdout
defaults = tomllib.loads(printed)
# (struct, section) in document order; a struct may serve several sections.
sections = [('ExperimentConfig',''), ('EnvConfig','env'), ('RunConfig','run'),
    ('DreamerConfig','dreamer'), ('RssmConfig','dreamer.rssm'), ('EncoderConfig','dreamer.encoder'),
    ('HeadsConfig','dreamer.heads'), ('LossScales','dreamer.loss_scales'),
    ('BehaviourConfig','dreamer.behaviour'), ('OptimizerConfig','dreamer.optimizer'),
    ('ReplayConfig','dreamer.replay'), ('ReplayFractions','dreamer.replay.fracs'),
    ('PriorityConfig','dreamer.replay.prio'), ('PlannerConfig','dreamer.planner'),
    ('SearchConfig','dreamer.planner.search'), ('SamplingConfig','dreamer.planner.sampling'),
    ('MuzeroConfig','muzero'), ('NetworkConfig','muzero.network'), ('SearchConfig','muzero.search'),
    ('TrainingConfig','muzero.training'), ('mz:ReplayConfig','muzero.replay'),
    ('ReanalyzeConfig','muzero.reanalyze'), ('EfficientZeroConfig','muzero.efficient_zero'),
    ('ActorCriticSettings','muzero.actor_critic'), ('BehaviourConfig','muzero.actor_critic.behaviour'),
    ('HeadsConfig','muzero.actor_critic.heads'),
    ('StormConfig','storm'), ('StormModelConfig','storm.model'), ('EncoderConfig','storm.model.encoder'),
    ('ActorCriticSettings','storm.actor_critic'), ('BehaviourConfig','storm.actor_critic.behaviour'),
    ('HeadsConfig','storm.actor_critic.heads'), ('StormReplayConfig','storm.replay'),
    ('PlannerConfig','storm.planner'), ('SearchConfig','storm.planner.search'),
    ('SamplingConfig','storm.planner.sampling'), ('SweepConfig','sweep')]
section_paths = [sec for _, sec in sections]
structs = {}
for f, prefix in [('src/config/experiment.rs',''),('src/config/sweep.rs',''),('src/dreamer/config.rs',''),('src/dreamer/config/optimizer.rs',''),('src/muzero/config.rs','mz:'),('src/planners/search.rs',''),('src/planners/choice.rs',''),('src/planners/sampling.rs',''),('src/storm/config.rs',''),('src/storm/agent_config.rs',''),('src/replay/selectors.rs','')]:
    src = open(f).read()
    for m in re.finditer(r'((?:///[^\n]*\n)*)(?:#\[[^\n]*\]\n)*pub struct (\w+) \{\n(.*?)\n\}', src, re.S):
        name = m.group(2); body = m.group(3)
        fields = []; doc = []
        for line in body.split('\n'):
            line=line.strip()
            if line.startswith('///'): doc.append(line[3:].strip())
            elif line.startswith('pub '):
                fm = re.match(r'pub (\w+): (.+),', line)
                fields.append((fm.group(1), fm.group(2), ' '.join(doc))); doc=[]
        key = name if (prefix + name) not in dict(sections) else prefix + name
        structs[key]=(m.group(1), fields)
# Keys whose default is not the reference implementation's: its value, and
# why ours differs. Every other default is the reference's (DreamerV3's 2023
# code at size S; MuZero's paper and pseudocode for Atari).
REFERENCE = {
    'dreamer.train_ratio': ('`32`', "`run.train_ratio` of the 2023 and 2025 configs (Atari 100k: 1,024 in 2023, 256 in 2025); replaying more per environment step learns small tasks in fewer environment steps, which CPU runs need"),
    'dreamer.rssm.initial': ('`"learned"`', "the 2023 code's; the recorded CartPole and MinAtar results were measured with zeros (the 2025 code's)"),
    'dreamer.planner.sampling.warm_start': ('`true` (TD-MPC)', "off by default so that runs written before it resume unchanged, and because PlaNet's CEM starts every step afresh"),
    'muzero.updates_per_step': ('about `0.02`', "MuZero Reanalyze's 1M updates over 200M frames at frame skip 4; CPU runs of small tasks need more updates per step (EfficientZero makes about 1.2)"),
    'muzero.network.kind': ('`"residual"`', "the paper's convolutional towers; the flat MLP state suits vector observations and CPUs"),
    'muzero.network.res_blocks': ('`16`', "the paper's Atari towers; 2 fit a CPU"),
    'muzero.network.res_channels': ('`256`', "the paper's Atari towers; 32 fit a CPU"),
    'muzero.replay.capacity': ('`1e6` games', "the pseudocode's `window_size`; a CPU run's memory holds 100k steps"),
    'muzero.training.batch': ('`1024`', "MuZero's Atari batch; 256 fits CPU runs"),
    'muzero.training.lr': ('`0.05`', "MuZero's rate for SGD with momentum 0.9, decayed by 10x every 350k updates; ours is Adam(W), for which that rate does not transfer"),
    'muzero.training.grad_clip': ('none', "MuZero clips no gradient; a clip of 5 keeps small networks' first updates stable (0 turns it off)"),
    'storm.actor_critic.heads.units': ('`512`, in blocks of a linear layer, LayerNorm and ReLU', "the units are STORM's; the blocks are DreamerV3's (SiLU instead of ReLU), shared by every actor-critic of the library"),
    'storm.model.encoder.mlp_units': ('none', "vector observations need an MLP, which STORM (Atari only) has not"),
    'muzero.training.temperature': ('1.0, 0.5 from 500k, 0.25 from 750k training steps', "MuZero's schedule counts training steps over a 1M-step run; ours counts environment steps, scaled to CPU-sized runs"),
}


def get(path):
    d = defaults
    for p in path.split('.'):
        if p: d = d[p]
    return d
out = ["# Config reference", "", "Every key of an experiment file, with its default. Defaults are the reference",
"implementations' values (DreamerV3's 2023 code at size S, MuZero's paper and pseudocode,",
"STORM's code),",
"except where the last column gives the reference's value and why ours differs; the 2025",
"design and the other model sizes come from the presets in `experiments/presets/`. Generated from",
"the `///` docs of the config structs; `somnium config [experiment.toml] [--set k=v]`",
"prints a fully resolved config. A test checks that every key is listed here.", ""]
for name, sec in sections:
    sdoc, fields = structs[name]
    out.append(f"## `[{sec}]`" if sec else "## Top level")
    out.append("")
    sd = ' '.join(l.strip()[3:].strip() for l in sdoc.strip().split('\n') if l.strip())
    if sd: out += [sd, ""]
    out += ["| key | default | meaning | reference, where different |", "|---|---|---|---|"]
    table = get(sec)
    for fname, ftype, doc in fields:
        if fname in section_paths or (sec and f"{sec}.{fname}" in section_paths) or fname in ('env','run','dreamer','muzero','storm'):
            if isinstance(table.get(fname), dict): continue
        v = table.get(fname)
        if isinstance(v, dict): continue
        if v is None: vs = "unset"
        elif isinstance(v,str): vs = f'`"{v}"`'
        else: vs = f"`{str(v).lower() if isinstance(v,bool) else v}`"
        key = f"{sec}.{fname}" if sec else fname
        ref = REFERENCE.get(key)
        refs = f"{ref[0]}: {ref[1]}" if ref else ""
        out.append(f"| `{key}` | {vs} | {doc} | {refs} |")
    out.append("")
unused = [k for k in REFERENCE if f"| `{k}` |" not in '\n'.join(out)]
assert not unused, f"REFERENCE names keys the reference does not list: {unused}"
open('docs/config.md','w').write('\n'.join(out))
