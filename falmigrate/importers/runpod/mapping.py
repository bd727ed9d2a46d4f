"""The RunPod → fal mapping tables, in one place.

The importer reads them to translate; ``docs/from-runpod.md`` is generated from them
(``render_tables``), and a test checks the doc is current. The FM3xx rules live in the rule
registry (``falmigrate.rules``).
"""

from __future__ import annotations

from falmigrate import rules as registry

# RunPod GPU pool ids (hub.json ``gpuIds``, endpoint settings) → the smallest fal machine with as much
# GPU memory. fal GPU machines: GPU-A6000 (48 GB), GPU-A100 (80 GB), GPU-H100 (80 GB), GPU-H200
# (141 GB), GPU-B200 (180 GB).
GPU_POOLS: dict[str, str] = {
    "AMPERE_16": "GPU-A6000",
    "AMPERE_24": "GPU-A6000",
    "ADA_24": "GPU-A6000",
    "ADA_32_PRO": "GPU-A6000",
    "AMPERE_48": "GPU-A6000",
    "ADA_48_PRO": "GPU-A6000",
    "AMPERE_80": "GPU-A100",
    "ADA_80_PRO": "GPU-H100",
    "HOPPER_141": "GPU-H200",
    "BLACKWELL_96": "GPU-H200",
    "BLACKWELL_180": "GPU-B200",
}
# GPU type names (tests.json ``gpuTypeId``, e.g. "NVIDIA A100 80GB PCIe"): first marker found wins.
GPU_NAME_MARKERS: list[tuple[str, str]] = [
    ("B200", "GPU-B200"),
    ("H200", "GPU-H200"),
    ("H100", "GPU-H100"),
    ("A100", "GPU-A100"),
    ("A6000", "GPU-A6000"),
    ("L40", "GPU-A6000"),
    ("A40", "GPU-A6000"),
    ("4090", "GPU-A6000"),
    ("3090", "GPU-A6000"),
]
DEFAULT_GPU = "GPU-A6000"

# Source construct → fal construct (what the codemod does), with the rule id of its finding.
CONSTRUCTS: list[tuple[str, str, str]] = [
    ('`runpod.serverless.start({"handler": fn})`', '`@fal.endpoint("/")` on a `fal.App` calling `fn(job)`', "FM300"),
    ("sync / async handler", "sync / async endpoint; `job` = `{\"id\": <request id>, \"input\": <request body>}`", "FM300"),
    ("generator / async generator handler", '`/` returns the aggregated list; `/stream` streams each item (server-sent events)', "FM310"),
    ('`rp_validator.validate(job_input, SCHEMA)`', "pydantic request model (type, required, default, recognised constraints); the validate call stays", "FM304"),
    ('keys read from `job["input"]` (no schema)', "optional request fields, typed from literal `.get` defaults, else `Any`", "FM303"),
    ('`fn(**job["input"])` (no schema)', "`fn`'s parameters: annotation → type, default, required when it has none", "FM303"),
    ("module-level initialisation (model loading, globals)", "moved, in order, into `_falmigrate_init()` called from `setup()`; names stay module globals", "FM309"),
    ('return `{"error": msg}`', "HTTP 400 with `detail` = msg", "FM307"),
    ('return `{"refresh_worker": True}`', "key dropped; fal has no per-request worker restart", "FM308"),
    ("`runpod.serverless.progress_update(job, msg)`", "a log line (`print`) — fal streams logs", "FM305"),
    ("`concurrency_modifier`", "`max_multiplexing` = the largest constant it can return", "FM306"),
    ("Dockerfile (`runpod/base`, `runpod/pytorch`)", "generated Dockerfile: same base (CUDA kept), apt/pip deps, RUN steps, ENV", "FM315"),
    ("`test_input.json`, `.runpod/tests.json` tests", "`Endpoint.examples` → `falmigrate verify` cases", "FM300"),
    ("network volume `/runpod-volume`", "fal persistent storage `/data` (path must be changed by hand)", "FM313"),
]

# hub.json / tests.json / endpoint knobs → fal App attributes.
KNOBS: list[tuple[str, str, str]] = [
    ("`config.gpuIds` (hub.json), `config.gpuTypeId` (tests.json)", "`machine_type` (list = fallbacks)", "GPU_POOLS table"),
    ("`config.gpuCount`", "`num_gpus`", "only when > 1"),
    ('`config.runsOn: "CPU"`', '`machine_type = "M"`', ""),
    ("`config.env` (literal value or input default)", "Dockerfile `ENV`", "names like *TOKEN*, *KEY*, *SECRET*, *PASSWORD* → `secrets` (never values)"),
    ("`workersMin` / `workersMax`", "`min_concurrency` / `max_concurrency`", ""),
    ("`idleTimeout` (s)", "`keep_alive`", ""),
    ("`executionTimeoutMs`", "`request_timeout` (s)", ""),
    ("`concurrency_modifier`", "`max_multiplexing`", "FM306"),
]


def machine_for(gpu: str) -> tuple[str, bool]:
    """(fal machine type, whether the id was known)."""
    key = gpu.strip()
    if key.upper() in GPU_POOLS:
        return GPU_POOLS[key.upper()], True
    for marker, machine in GPU_NAME_MARKERS:
        if marker in key.upper():
            return machine, True
    return DEFAULT_GPU, False


def render_tables() -> str:
    """Markdown of every table above (the body of docs/from-runpod.md's mapping section)."""
    lines = ["### Constructs", "", "| RunPod | fal | finding |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in CONSTRUCTS]
    lines += ["", "### Settings", "", "| RunPod | fal | note |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in KNOBS]
    lines += ["", "### GPU pools", "", "| RunPod `gpuIds` | fal `machine_type` |", "|---|---|"]
    lines += [f"| `{a}` | `{b}` |" for a, b in GPU_POOLS.items()]
    lines += ["", "### GPU type names (first match wins)", "", "| name contains | fal `machine_type` |", "|---|---|"]
    lines += [f"| `{a}` | `{b}` |" for a, b in GPU_NAME_MARKERS]
    lines += ["", f"Unknown ids map to `{DEFAULT_GPU}` with a warning (FM311)."]
    return "\n".join(lines) + "\n"


DOC_BEGIN = "<!-- BEGIN GENERATED: falmigrate.importers.runpod.mapping.render_tables -->"
DOC_END = "<!-- END GENERATED -->"


def render_doc_section() -> str:
    rules = ["### Finding rules", "", "| rule | meaning |", "|---|---|"]
    rules += [f"| {rule.id} | {rule.title} |" for rule in registry.for_platform("runpod")]
    return render_tables() + "\n" + "\n".join(rules) + "\n"


def update_doc(text: str) -> str:
    """``text`` with the part between DOC_BEGIN and DOC_END replaced by the current tables."""
    head, sep, rest = text.partition(DOC_BEGIN)
    if not sep:
        raise ValueError("the doc has no generated-section marker")
    _, sep2, tail = rest.partition(DOC_END)
    if not sep2:
        raise ValueError("the doc's generated section is not closed")
    return f"{head}{DOC_BEGIN}\n{render_doc_section()}{DOC_END}{tail}"
