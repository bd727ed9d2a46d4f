"""The RunPod → fal mapping tables, in one place.

The importer reads them to translate; ``docs/from-runpod.md`` is generated from them
(``render_tables``), and a test checks the doc is current. The FM3xx rules live in the rule
registry (``falmigrate.rules``).
"""

from __future__ import annotations

from falmigrate import rules as registry
from falmigrate.analysis.secrets import LITERAL_SECRET_RULE

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

# Base image (regex on the FROM image, pre-FROM ARGs substituted) → the Python its ``python3`` is, first
# match wins; "" = the tag does not say (runpod/base 0.x ships several Pythons side by side).
# runpod/base 1.x: "3.9–3.13 preinstalled; 3.10 is the default" (runpod/containers, base/README.md).
BASE_PYTHONS: list[tuple[str, str]] = [
    (r"(?:^|/)python:(3\.\d+)", r"\1"),
    (r"\bpy(?:thon)?-?3\.?(\d{1,2})\b", r"3.\1"),
    (r"(?:^|/)runpod/base:0\.", ""),
    (r"(?:^|/)runpod/base:1\.", "3.10"),
    (r"ubuntu24\.?04|noble", "3.12"),
    (r"ubuntu22\.?04|jammy", "3.10"),
    (r"ubuntu20\.?04|focal", "3.8"),
    (r"bookworm", "3.11"),
    (r"bullseye", "3.9"),
]
# FROM images that carry CUDA (the worker was built for a GPU).
GPU_BASES: list[str] = [r"(?:^|/)nvidia/cuda:", r"cuda\d", r"-cu\d{3}", r"(?:^|/)runpod/pytorch:",
                        r"(?:^|/)pytorch/pytorch:.*cuda", r"(?:^|/)vllm/vllm-openai", r"(?:^|/)nvcr\.io/"]
# Packages that only make sense on a GPU machine.
GPU_PACKAGES: frozenset[str] = frozenset({
    "torch", "vllm", "xformers", "flash-attn", "flash_attn", "bitsandbytes", "tensorrt", "onnxruntime-gpu",
    "cupy", "triton", "auto-gptq", "exllamav2", "sglang",
})

# Source construct → fal construct (what the codemod does), with the rule id of its finding.
CONSTRUCTS: list[tuple[str, str, str]] = [
    ('`runpod.serverless.start({"handler": fn})`',
     '`@fal.endpoint("/")` on a `fal.App` calling `fn(job)`; entry-point route', "FM300"),
    ("several `start` calls naming the same handler", "one app; the calls' settings merged", "FM328"),
    ("sync / async handler",
     "sync / async endpoint; `job` = `{\"id\": <request id>, \"input\": <request body>}`", "FM300"),
    ("generator / async generator handler",
     '`/` returns the aggregated list; `/stream` streams each item (server-sent events)', "FM310"),
    ('`rp_validator.validate(job_input, SCHEMA)`',
     "pydantic request model (type, required, default, recognised constraints); the validate call stays",
     "FM304"),
    ('keys read from `job["input"]` (no schema)',
     "optional request fields, typed from literal `.get` defaults, else `Any`", "FM303"),
    ('`fn(**job["input"])` (no schema)',
     "`fn`'s parameters: annotation → type, default, required when it has none", "FM303"),
    ('job fields beside the input (`job["s3Config"]`, `job.get("webhook")`)',
     "optional request fields, put back next to `input` in the job", "FM325"),
    ("module-level initialisation (model loading, globals)",
     "moved, in order, into `_falmigrate_init()` called from `setup()`; names stay module globals", "FM309"),
    ("`main()` under the main guard starting a server, then `start`",
     "runs in `setup()`; the processes it started are stopped in `teardown()`", "FM323"),
    ("launcher script (`CMD [\"/start.sh\"]`): lines before the worker",
     ("run in `setup()` (same shell, worker's folder, exported variables kept, port waited for); "
      "stopped in `teardown()`"), "FM323"),
    ("module-level `argparse` `parse_args()`",
     "`parse_args([])`: the parser's defaults (argv is the fal runner's)", "FM326"),
    ('return `{"error": msg}`', "HTTP 400 with `detail` = msg", "FM307"),
    ('return `{"refresh_worker": True}`', "key dropped; fal has no per-request worker restart", "FM308"),
    ("`runpod.serverless.progress_update(job, msg)`", "a log line (`print`) — fal streams logs", "FM305"),
    ("`concurrency_modifier`",
     "`max_multiplexing` = the largest constant it can return (or the env-var default it reads)", "FM306"),
    ("worker Dockerfile (`runpod/base`, `runpod/pytorch`, multi-stage, ARGs)",
     ("kept as written and patched: fal's runtime appended to the final stage, "
      "`fal_app.py` next to the worker"), "FM315"),
    ("load-balancing worker (HTTP server, `GET /ping`, `$PORT`)",
     "image-only app: the server itself, `exposed_port`, `health_check`", "FM322"),
    ("`test_input.json`, `.runpod/tests.json` tests", "`Endpoint.examples` → `falmigrate verify` cases",
     "FM300"),
    ("network volume `/runpod-volume`",
     "fal persistent storage `/data` (Dockerfile and worker module paths rewritten)", "FM313"),
    ("a literal API key in code or the Dockerfile",
     "a read of the fal secret of that name (value never copied)", LITERAL_SECRET_RULE),
]

# hub.json / tests.json / endpoint knobs → pyproject.toml keys.
KNOBS: list[tuple[str, str, str]] = [
    ("`config.gpuIds` (hub.json), `config.gpuTypeId` (tests.json)", "`machine_type` (list = fallbacks)",
     "GPU_POOLS table"),
    ("no GPU named, but a CUDA base or GPU packages", f"`machine_type = \"{DEFAULT_GPU}\"`",
     "FM324 names the evidence"),
    ("`config.gpuCount`", "`num_gpus`", "only when > 1"),
    ('`config.runsOn: "CPU"`', '`machine_type = "M"`', ""),
    ("`config.env` (literal value or input default)", "Dockerfile `ENV`",
     "secret names (`HF_TOKEN`, `*_API_KEY`, …) → `secrets` (never values)"),
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
    lines += ["", "### GPU type names (first match wins)", "",
              "| name contains | fal `machine_type` |", "|---|---|"]
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
