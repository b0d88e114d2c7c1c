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
    ('ReplayConfig','dreamer.replay'), ('PlannerConfig','dreamer.planner'),
    ('SearchConfig','dreamer.planner.search'), ('SamplingConfig','dreamer.planner.sampling'),
    ('MuzeroConfig','muzero'), ('NetworkConfig','muzero.network'), ('SearchConfig','muzero.search'),
    ('TrainingConfig','muzero.training'), ('mz:ReplayConfig','muzero.replay'),
    ('ReanalyzeConfig','muzero.reanalyze'), ('EfficientZeroConfig','muzero.efficient_zero'),
    ('ActorCriticSettings','muzero.actor_critic'), ('BehaviourConfig','muzero.actor_critic.behaviour'),
    ('HeadsConfig','muzero.actor_critic.heads'), ('SweepConfig','sweep')]
section_paths = [sec for _, sec in sections]
structs = {}
for f, prefix in [('src/config/experiment.rs',''),('src/config/sweep.rs',''),('src/dreamer/config.rs',''),('src/dreamer/config/optimizer.rs',''),('src/muzero/config.rs','mz:'),('src/planners/search.rs',''),('src/planners/choice.rs',''),('src/planners/sampling.rs','')]:
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
def get(path):
    d = defaults
    for p in path.split('.'):
        if p: d = d[p]
    return d
out = ["# Config reference", "", "Every key of an experiment file, with its default (the paper's value;",
"model sizes come from the presets in `experiments/presets/`). Generated from",
"the `///` docs of the config structs; `somnium config [experiment.toml] [--set k=v]`",
"prints a fully resolved config. A test checks that every key is listed here.", ""]
for name, sec in sections:
    sdoc, fields = structs[name]
    out.append(f"## `[{sec}]`" if sec else "## Top level")
    out.append("")
    sd = ' '.join(l.strip()[3:].strip() for l in sdoc.strip().split('\n') if l.strip())
    if sd: out += [sd, ""]
    out += ["| key | default | meaning |", "|---|---|---|"]
    table = get(sec)
    for fname, ftype, doc in fields:
        if fname in section_paths or (sec and f"{sec}.{fname}" in section_paths) or fname in ('env','run','dreamer','muzero'):
            if isinstance(table.get(fname), dict): continue
        v = table.get(fname)
        if isinstance(v, dict): continue
        if v is None: vs = "unset"
        elif isinstance(v,str): vs = f'`"{v}"`'
        else: vs = f"`{str(v).lower() if isinstance(v,bool) else v}`"
        key = f"{sec}.{fname}" if sec else fname
        out.append(f"| `{key}` | {vs} | {doc} |")
    out.append("")
open('docs/config.md','w').write('\n'.join(out))
